"""How every stage runs: on one thread, and failing with one readable line.

- Numerical libraries (BLAS, OpenMP) are limited to one thread (`one_thread`):
  with more, floating-point sums are reordered and a model's bytes depend on the
  machine's core count, so `dvc.lock` would differ between a laptop and CI.
- params.yaml is checked against its schema (`params.py`) before the stage does
  any work, so a bad value stops the first stage that runs, whichever it is.
- Each successful run records its wall and CPU seconds in
  `reports/timings/<stage>.json`, which the regression gate's report shows as the
  cost of the evaluation.
- Expected problems (bad params, missing or malformed inputs, untrusted model
  files) end the stage with `<stage>: <message>` and exit code 1 instead of a
  traceback. Set `PIPELINE_DEBUG=1` to see the traceback.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from threadpoolctl import threadpool_limits


class StageError(Exception):
    """A problem with a stage's inputs or params, explained in one sentence."""


EXPECTED_ERRORS = (StageError, FileNotFoundError, ImportError, KeyError, ValueError)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def one_thread():
    """Limit every numerical library of this process to one thread, those loaded later included.

    threadpoolctl limits the libraries already loaded; each library loaded later
    (SciPy's own OpenBLAS, scikit-learn's OpenMP, both imported lazily) reads its
    thread count from the environment when it loads, so that is set too.
    Without it those libraries start a thread per core: at 100 k articles a
    search cost the service 13 ms of CPU instead of 5, in busy-waiting threads.
    Returns the limiter (a context manager that restores the loaded libraries' limits).
    """
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    return threadpool_limits(limits=1)


def run_stage(main: Callable[[], int]) -> NoReturn:
    """Run a stage's `main` and exit with its code."""
    stage = Path(main.__code__.co_filename).stem  # under `python -m`, the module is called __main__
    from .params import load_params  # params.py needs StageError from here

    try:
        load_params()
        with one_thread():
            code = main()
    except EXPECTED_ERRORS as err:
        if os.environ.get("PIPELINE_DEBUG"):
            raise
        message = f"missing key {err} in params.yaml or in an input's columns" if type(err) is KeyError else err
        print(f"{stage}: {message}", file=sys.stderr)
        code = 1
    if code == 0:
        record_cost(stage)
    sys.exit(code)


TIMINGS_DIR = Path("reports/timings")


def record_cost(stage: str) -> None:
    """What the stage's process cost, start-up and imports included, for the gate's report.

    Git-ignored, and not a DVC output: timings differ on every run.
    """
    import psutil  # installed with dvc

    from .io import write_json

    wall = time.time() - psutil.Process().create_time()
    cpu = time.process_time()
    write_json({"stage": stage, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}, TIMINGS_DIR / f"{stage}.json")
