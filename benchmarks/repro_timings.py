"""Wall time of the generated pipeline: full, no-op and partial `dvc repro`.

Bakes the default project into a temporary folder and times, in one run:
a full `dvc repro`, a no-op `dvc repro`, and the reruns after a classifier and
an encoder parameter change. Ratios to the full run are printed alongside, since
absolute seconds depend on the machine and its load.

    make bench          # or: .venv/bin/python benchmarks/repro_timings.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
}


def run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, check=True)
    return result.stdout + result.stderr


def timed_repro(project: Path) -> tuple[float, int]:
    start = time.perf_counter()
    output = run(["dvc", "repro"], project)
    return time.perf_counter() - start, len(re.findall(r"^Running stage ", output, re.MULTILINE))


def edit(project: Path, old: str, new: str) -> None:
    params = project / "params.yaml"
    params.write_text(params.read_text().replace(old, new, 1))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run([sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_DIR), "--output-dir", tmp], Path(tmp))
        project = Path(tmp) / "support-triage"
        ENV["PYTHONPATH"] = str(project / "src")
        rows = [("full dvc repro", *timed_repro(project))]
        rows.append(("no-op dvc repro", *timed_repro(project)))
        edit(project, "  C: 4.0\n", "  C: 2.0\n")
        rows.append(("classifier.C changed", *timed_repro(project)))
        edit(project, "    n_components: 128\n", "    n_components: 96\n")
        rows.append(("encoder n_components changed", *timed_repro(project)))

    full = rows[0][1]
    print(f"{'run':<30} {'stages':>6} {'seconds':>8} {'vs full':>8}")
    for name, seconds, stages in rows:
        print(f"{name:<30} {stages:>6} {seconds:>8.2f} {seconds / full:>8.2f}")


if __name__ == "__main__":
    main()
