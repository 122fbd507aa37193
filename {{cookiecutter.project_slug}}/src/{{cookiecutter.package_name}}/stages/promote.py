"""Stage `promote`: the absolute quality gate in front of production.

Every metric named under `gate.thresholds` in params.yaml must reach its floor
(a name may be a glob pattern: `slices.tickets.channel.*.accuracy` is every
channel's; a slice of fewer than `evaluate.min_support` cases is reported, not gated),
and (with `gate.require_must_pass`) every must-pass ticket must be classified
correctly. The candidate on disk must also be exactly the model set `evaluate`
measured (`metrics/evaluate/models.json` lists its files' SHA-256): a model
retrained or replaced after evaluation is refused, never promoted unmeasured.

If everything holds, the candidate set is installed into `models/production/` in
one atomic switch (`modelset.install`): whenever the process stops, production is
the old set or the new one, never a mix. An unchanged encoder keeps its bytes, so
`embed` and `index` stay up to date.

If not, the refusal is a result, not a crash (like a model "blessing"): the stage
prints what fell short, records the decision in `metrics/promote.json`
(`promotion.promoted: 0`), leaves `models/production/` exactly as it was (the
output is declared `persist: true`, so DVC does not delete it before the stage
runs) and exits 0, so `dvc repro` and `dvc exp run` complete and `dvc exp show`
lists every experiment with its own metrics. Refusal still stops what matters:
`python -m <package>.stages.promote --check` (`make repro`, `make promotion-check`)
exits 1 on it, and so does the regression gate in CI. Bad inputs (unknown floor
names, a candidate that is not what was measured) still fail the stage.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import read_json, write_json
from ..metrics import support_of
from ..modelset import file_hashes, install, recover
from ..params import flatten, load_params
from ..runner import StageError, run_stage

CANDIDATE = Path("models/candidate")
PRODUCTION = Path("models/production")
MEASURED = Path("metrics/evaluate/models.json")
METRICS = Path("metrics/evaluate/metrics.json")
MUST_PASS = Path("metrics/evaluate/must_pass.json")
DECISION = Path("metrics/promote.json")
# Test hook: stop the process right after this many file operations of the switch (tests/test_promote.py).
STOP_AFTER_ENV = "PROMOTE_STOP_AFTER_STEP"


def check_thresholds(metrics: dict, thresholds: dict) -> tuple[list[tuple[str, float, float, bool]], list[str]]:
    """Compare metrics with their floors; a floor's name may be a glob pattern of metric names.

    Returns (rows of (metric, achieved, floor, passed), names of thresholds that
    match no metric). NaN never passes. An exact name wins over the patterns
    that also match it.
    """
    achieved = flatten(metrics)
    chosen: dict[str, float] = {}
    unknown = []
    for pattern, floor in sorted(flatten(thresholds).items()):
        names = [pattern] if pattern in achieved else fnmatch.filter(sorted(achieved), pattern)
        if not names:
            unknown.append(pattern)
        for name in names:
            if name not in chosen or name == pattern:
                chosen[name] = float(floor)
    rows = []
    for name, floor in sorted(chosen.items()):
        value = float(achieved[name])
        rows.append((name, value, floor, not math.isnan(value) and value >= floor))
    return rows, unknown


def split_small_slices(
    rows: list[tuple[str, float, float, bool]], metrics: dict, min_support: int
) -> tuple[list[tuple[str, float, float, bool]], list[tuple[str, float, float, int]]]:
    """(rows that are gated, slices of fewer than `min_support` cases as (metric, achieved, floor, cases))."""
    achieved = flatten(metrics)
    gated, small = [], []
    for name, value, floor, passed in rows:
        support = support_of(name, achieved)
        if support is not None and support < min_support:
            small.append((name, value, floor, support))
        else:
            gated.append((name, value, floor, passed))
    return gated, small


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


@dataclass
class Decision:
    """What promote decided on a candidate's metrics: each floor checked, and the must-pass tickets it failed."""

    rows: list[tuple[str, float, float, bool]]
    failed_cases: list[dict[str, Any]]
    must_pass_total: int
    small_slices: list[tuple[str, float, float, int]] = field(default_factory=list)

    @property
    def promoted(self) -> bool:
        return all(passed for *_, passed in self.rows) and not self.failed_cases

    def summary(self) -> dict[str, Any]:
        """The decision as metrics (`metrics/promote.json`), so `dvc exp show` has a column for it."""
        missed = sum(not passed for *_, passed in self.rows)
        return {
            "promotion": {
                "promoted": int(self.promoted),
                "floors_missed": missed,
                "must_pass_failed": len(self.failed_cases),
            }
        }

    def report(self) -> str:
        lines = [format_table(self.rows)]
        lines += [
            f"  not gated, {cases} cases < evaluate.min_support: {name} {value:.4f} (floor {floor:.4f})"
            for name, value, floor, cases in self.small_slices
        ]
        lines += [
            f"  must-pass ticket failed: {case['text']!r}: expected {case['expected']}, got {case['predicted']}"
            for case in self.failed_cases
        ]
        return "\n".join(lines)


def decide(
    metrics: dict[str, Any], must_pass: list[dict[str, Any]], gate: dict[str, Any], min_support: int = 0
) -> Decision:
    """Check `metrics` against `gate.thresholds` and the must-pass results; a StageError for a config problem."""
    rows, unknown = check_thresholds(metrics, gate["thresholds"])
    rows, small = split_small_slices(rows, metrics, min_support)
    if unknown:
        known = ", ".join(sorted(flatten(metrics)))
        raise StageError(f"gate.thresholds names unknown metric(s) {', '.join(unknown)}; known: {known}")
    if gate["require_must_pass"] and not must_pass:
        raise StageError(
            "gate.require_must_pass is true but no must-pass ticket was evaluated: "
            "add cases to golden/must_pass_tickets.csv, or set it to false"
        )
    failed_cases = [case for case in must_pass if not case["passed"]] if gate["require_must_pass"] else []
    return Decision(rows, failed_cases, len(must_pass), small)


def current_decision(gate: dict[str, Any], min_support: int = 0) -> Decision:
    """The decision on the metrics `evaluate` wrote last, as promote takes it."""
    return decide(read_json(METRICS), read_json(MUST_PASS), gate, min_support)


def check_last_decision(gate: dict[str, Any], min_support: int) -> int:
    """`--check`: exit 1, with what fell short, when the last run refused its candidate."""
    if not DECISION.exists():
        raise StageError(f"{DECISION} not found: run `dvc repro` first")
    if read_json(DECISION)["promotion"]["promoted"]:
        print("promote: the candidate of the last run was promoted")
        return 0
    print("promote: REFUSED: the candidate of the last run was not promoted.", file=sys.stderr)
    print(current_decision(gate, min_support).report(), file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m {{ cookiecutter.package_name }}.stages.promote")
    parser.add_argument("--check", action="store_true", help="exit 1 if the last run refused its candidate")
    args = parser.parse_args(argv)
    params = load_params()
    gate, min_support = params["gate"], params["evaluate"]["min_support"]
    if args.check:
        return check_last_decision(gate, min_support)
    repaired = recover(PRODUCTION)
    if repaired:
        print(f"promote: {repaired}")
    expected = check_measured(CANDIDATE, read_json(MEASURED))  # the metrics below are this set's, and no other's
    decision = current_decision(gate, min_support)

    if not decision.promoted:
        write_json(decision.summary(), DECISION)
        print(
            "promote: REFUSED: the candidate models fall short; models/production/ is unchanged. "
            "The run goes on so experiments can be compared; `make repro` and CI fail on it.",
            file=sys.stderr,
        )
        print(decision.report(), file=sys.stderr)
        if not PRODUCTION.exists():  # e.g. a fresh clone in CI: the run cannot go on without a production set
            raise StageError("REFUSED, and there is no production model set yet: embed and index have nothing to use")
        return 0

    manifest = install(CANDIDATE, PRODUCTION, expected, stop_after_steps(os.environ.get(STOP_AFTER_ENV)))
    write_json(decision.summary(), DECISION)
    print(
        f"promote: every floor met and {decision.must_pass_total} must-pass tickets passed; "
        f"model set {manifest['version']} promoted to {PRODUCTION}/"
    )
    print(decision.report())
    return 0


if __name__ == "__main__":
    run_stage(main)
