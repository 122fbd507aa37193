"""Stage `promote`: the absolute quality gate in front of production.

Every metric named under `gate.thresholds` in params.yaml must reach its floor,
and (with `gate.require_must_pass`) every must-pass ticket must be classified
correctly. If so, the candidate models are copied byte for byte into
`models/production/`; an unchanged encoder therefore keeps its hash and `embed`
and `index` stay up to date. If not, the stage prints what fell short and
exits 1, and `models/production/` is left exactly as it was (its outputs are
declared `persist: true`, so DVC does not delete them before the stage runs).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..io import read_json
from ..params import flatten, load_params
from ..runner import StageError, run_stage

CANDIDATE = Path("models/candidate")
PRODUCTION = Path("models/production")
MODELS = ("classifier.skops", "encoder")


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


def copy_into_production(candidate: Path, production: Path) -> None:
    """Copy each candidate model byte for byte; each replacement is atomic."""
    production.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        source, target = candidate / name, production / name
        staging = Path(tempfile.mkdtemp(dir=production, prefix=f".{name}."))
        try:
            staged = staging / name
            if source.is_dir():
                shutil.copytree(source, staged, copy_function=shutil.copyfile)
                if target.exists():  # a folder cannot be replaced in one step: move the old one aside
                    os.replace(target, staging / "previous")
            else:
                shutil.copyfile(source, staged)
            os.replace(staged, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def main() -> int:
    gate = load_params()["gate"]
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

    copy_into_production(CANDIDATE, PRODUCTION)
    print(f"promote: every floor met and {len(must_pass)} must-pass tickets passed; promoted to {PRODUCTION}/")
    print(table)
    return 0


if __name__ == "__main__":
    run_stage(main)
