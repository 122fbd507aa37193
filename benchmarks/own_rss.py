"""Run a command and record the peak RSS and CPU of its own process tree, not of whoever started it.

    python benchmarks/own_rss.py OUT.json -- COMMAND [ARGS...]

Linux carries a process's peak RSS (`ru_maxrss`) across `exec`: a command
started from a large process (a test runner, a benchmark holding generated
data) reports that process's peak if it was larger than its own. Python's
`subprocess` starts children with vfork, so the child's figure starts at the
parent's. Measured from a Python process holding 400 MiB, `python -c pass`
"peaked" at 428 MiB; from this small launcher (about 10 MiB), at 8 MiB.

This script forks and execs COMMAND, waits for it, writes
`{"max_rss_mib", "cpu_s", "exit_code"}` (the kernel's accounting of COMMAND
and the descendants it waited for) to OUT.json, and exits with COMMAND's code.
Standard library only, so it stays small.
"""

import json
import os
import sys


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    out, command = sys.argv[1], sys.argv[3:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)  # exec failed
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    figures = {
        "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "exit_code": code,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(figures, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
