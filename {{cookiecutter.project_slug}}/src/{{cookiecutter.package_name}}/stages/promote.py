"""Stage `promote`: the absolute quality gate in front of production.

Every metric named under `gate.thresholds` in params.yaml must reach its floor,
and (with `gate.require_must_pass`) every must-pass ticket must be classified
correctly. The candidate on disk must also be exactly the model set `evaluate`
measured (`metrics/evaluate/models.json` lists its files' SHA-256): a model
retrained or replaced after evaluation is refused, never promoted unmeasured.

If everything holds, the candidate set is installed into `models/production/` in
one atomic switch (`modelset.install`): whenever the process stops, production is
the old set or the new one, never a mix. An unchanged encoder keeps its bytes, so
`embed` and `index` stay up to date. If not, the stage prints what fell short and
exits 1, and `models/production/` is left exactly as it was (the output is
declared `persist: true`, so DVC does not delete it before the stage runs).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from ..io import read_json
from ..modelset import file_hashes, install, recover
from ..params import flatten, load_params
from ..runner import StageError, run_stage

CANDIDATE = Path("models/candidate")
PRODUCTION = Path("models/production")
MEASURED = Path("metrics/evaluate/models.json")
# Test hook: stop the process right after this many file operations of the switch (tests/test_promote.py).
STOP_AFTER_ENV = "PROMOTE_STOP_AFTER_STEP"


def check_thresholds(metrics: dict, thresholds: dict) -> tuple[list[tuple[str, float, float, bool]], list[str]]:
    """Compare metrics with their floors.

    Returns (rows of (metric, achieved, floor, passed), names of thresholds
    whose metric does not exist). NaN never passes.
    """
    achieved = flatten(metrics)
    rows, unknown = [], []
    for name, floor in sorted(flatten(thresholds).items()):
        if name not in achieved:
            unknown.append(name)
            continue
        if not isinstance(floor, (int, float)) or isinstance(floor, bool):
            raise StageError(f"gate.thresholds.{name} must be a number, not {floor!r}")
        value = float(achieved[name])
        rows.append((name, value, float(floor), not math.isnan(value) and value >= float(floor)))
    return rows, unknown


def format_table(rows: list[tuple[str, float, float, bool]]) -> str:
    width = max([len("metric")] + [len(name) for name, *_ in rows])
    lines = [f"  {'metric':<{width}}  achieved  floor   verdict", f"  {'-' * width}  --------  ------  -------"]
    for name, value, floor, passed in rows:
        lines.append(f"  {name:<{width}}  {value:8.4f}  {floor:6.4f}  {'ok' if passed else 'TOO LOW'}")
    return "\n".join(lines)


def check_measured(candidate: Path, measured: dict) -> dict[str, str]:
    """The candidate's file hashes, refused unless they are exactly those `evaluate` measured."""
    actual = file_hashes(candidate)
    expected = measured.get("files") or {}
    changed = sorted(path for path in set(actual) | set(expected) if actual.get(path) != expected.get(path))
    if changed:
        raise StageError(
            f"REFUSED: {', '.join(str(candidate / path) for path in changed)} is not what evaluate measured "
            "(retrained or replaced since); models/production/ is unchanged. Run `dvc repro` to evaluate it first."
        )
    return actual


def stop_after_steps(limit: str | None):
    """The test hook's checkpoint: exit at once, as a killed process would, after `limit` file operations."""
    if not limit:
        return lambda step: None
    count = {"steps": 0}

    def checkpoint(step: str) -> None:
        count["steps"] += 1
        if count["steps"] >= int(limit):
            print(f"promote: stopped after step {count['steps']} ({step})", file=sys.stderr, flush=True)
            os._exit(137)

    return checkpoint


def main() -> int:
    gate = load_params()["gate"]
    repaired = recover(PRODUCTION)
    if repaired:
        print(f"promote: {repaired}")
    expected = check_measured(CANDIDATE, read_json(MEASURED))  # the metrics below are this set's, and no other's
    metrics = read_json("metrics/evaluate/metrics.json")
    must_pass = read_json("metrics/evaluate/must_pass.json")

    rows, unknown = check_thresholds(metrics, gate["thresholds"])
    if unknown:
        known = ", ".join(sorted(flatten(metrics)))
        raise StageError(f"gate.thresholds names unknown metric(s) {', '.join(unknown)}; known: {known}")
    if gate["require_must_pass"] and not must_pass:
        raise StageError(
            "gate.require_must_pass is true but no must-pass ticket was evaluated: "
            "add cases to golden/must_pass_tickets.csv, or set it to false"
        )
    failed_cases = [case for case in must_pass if not case["passed"]] if gate["require_must_pass"] else []
    table = format_table(rows)

    if any(not passed for *_, passed in rows) or failed_cases:
        print("promote: REFUSED: the candidate models fall short; models/production/ is unchanged.", file=sys.stderr)
        print(table, file=sys.stderr)
        for case in failed_cases:
            print(
                f"  must-pass ticket failed: {case['text']!r}: expected {case['expected']}, got {case['predicted']}",
                file=sys.stderr,
            )
        return 1

    manifest = install(CANDIDATE, PRODUCTION, expected, stop_after_steps(os.environ.get(STOP_AFTER_ENV)))
    print(
        f"promote: every floor met and {len(must_pass)} must-pass tickets passed; "
        f"model set {manifest['version']} promoted to {PRODUCTION}/"
    )
    print(table)
    return 0


if __name__ == "__main__":
    run_stage(main)
