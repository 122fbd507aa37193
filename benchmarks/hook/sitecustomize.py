"""Per-process figures for the benchmark: wall, CPU and peak RSS of every Python process, logged at exit.

`benchmarks/run.py` puts this folder first on PYTHONPATH and sets
BENCH_PROCESS_LOG, so Python imports this module at start-up in `dvc` itself and
in every stage command DVC starts. At exit each process appends one JSON line to
the log: its argv, wall time since the kernel started it, CPU time (user +
system) and peak resident memory (`ru_maxrss`). One full `dvc repro` thus gives
per-stage figures without running the stages a second time outside DVC, and
without a wrapper process that would add its own start-up to every stage.

BENCH_HIDDEN_MODULES (comma-separated) makes those modules unimportable, as if
they were not installed: the benchmark hides `torch`, which the test
environment has for the sentence-transformers tests but the default project
does not depend on. With torch installed, `import skops.io` imports it
(skops lists scikit-learn's estimators, which walks
sklearn.externals.array_api_compat.torch), ~1.1 s more in every stage that
reads or writes a model.

Without these variables this module does nothing. (It shadows any other
sitecustomize module, which is why only the benchmark puts it on the path.)
"""

from __future__ import annotations

import os
import sys

if os.environ.get("BENCH_HIDDEN_MODULES"):

    class _Hide:
        """A meta path finder that answers 'not installed' for the hidden top-level modules."""

        hidden = set(os.environ["BENCH_HIDDEN_MODULES"].split(","))

        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.partition(".")[0] in cls.hidden:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Hide)

if os.environ.get("BENCH_PROCESS_LOG"):
    import atexit
    import json
    import resource
    import time

    def _started_at() -> float | None:
        """Seconds after boot at which the kernel started this process (/proc/self/stat, field 22)."""
        try:
            with open("/proc/self/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # the command name may contain spaces
            return int(fields[19]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, AttributeError):
            return None

    _STARTED = _started_at()
    _IMPORTED = time.perf_counter()

    def _log() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        if _STARTED is not None and hasattr(time, "CLOCK_BOOTTIME"):
            wall = time.clock_gettime(time.CLOCK_BOOTTIME) - _STARTED
        else:  # no /proc: from this import on, which misses the interpreter's start-up (~20 ms)
            wall = time.perf_counter() - _IMPORTED
        record = {
            "argv": sys.argv,
            "pid": os.getpid(),
            "wall_s": round(wall, 3),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "children_cpu_s": round(children.ru_utime + children.ru_stime, 3),
            "max_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        }
        with open(os.environ["BENCH_PROCESS_LOG"], "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    atexit.register(_log)
