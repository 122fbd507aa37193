"""Experiment sweeps: one file in `sweeps/` fans out into DVC experiments, on CI runners or the local queue.

A sweep file, `sweeps/<name>.yaml`, names the parameters to try and the metric
that picks the best experiment:

    metric: classification.macro_f1   # any metric of dvc.yaml's metrics files
    direction: higher                 # optional: else the direction of gate.regression's rule for it
    set:                              # optional: the same values in every experiment
      encoder.hybrid.dense_weight: 0.5
    grid:                             # every combination of these, in this order
      classifier.C: [0.5, 2.0, 8.0]

Each combination is a *cell*, named `<name>-<i>` (i = 1, 2, ... in grid order)
and run as `dvc exp run -n <name>-<i> -S key=value ...`. The commands:

- `plan SWEEP`: the cells as JSON (`--names`: their names only, for a CI matrix;
  `--gitlab-child FILE`: FILE's jobs with the names as their matrix, a GitLab child pipeline).
- `run-cell SWEEP CELL`: run one cell in the workspace (one CI job).
- `push SWEEP CELL`: `dvc exp push` its experiment to origin, and check that origin has it.
- `collect SWEEP [--pull REMOTE]`: read each cell's experiment of HEAD from git
  (pulled from REMOTE first) and write a Markdown table: the swept values, the
  metrics promote gates on, the promotion decision, the cases that changed
  against HEAD, and the best experiment by the sweep's metric.
- `queue SWEEP [--jobs N]`: the whole sweep on this machine through DVC's queue, then `collect`.

The file is checked before anything runs, and a problem is one line: an unknown
parameter, an empty grid, a value params.yaml would refuse, a name DVC cannot
use. The promotion decision of each experiment is computed here, from its
metrics and HEAD's floors (`gate.thresholds`); its own `metrics/promote.json` is
never trusted, and a sweep cannot change the floors.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import itertools
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator

from .casediff import MUST_PASS, CaseDiff, case_diffs, read_at
from .gate import GateError, format_value, md_code, parse_rules, read_base_metrics, rule_for
from .io import write_text
from .params import Params, ParamsError, Section, Text, check, flatten, load_params
from .runner import StageError
from .stages.promote import Decision, decide

SWEEPS_DIR = Path("sweeps")
REPORTS_DIR = Path("reports/sweeps")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")  # a git ref component and a DVC experiment name
MAX_CELLS = 256  # a GitHub Actions matrix runs at most 256 jobs
# Sections a sweep must not change: the floors every experiment is judged by, and what no stage reads.
NOT_SWEPT = {
    "gate": "it holds the floors every experiment is judged by",
    "data": "it configures `make sample-data`, which no stage runs",
}
QUEUE_STATES = ("Queued", "Running", "Success", "Failed")


class SweepError(StageError):
    """A sweep file or a sweep command that cannot work, in one sentence."""


class SweepFile(Section):
    """The schema of `sweeps/<name>.yaml`."""

    description: Text | None = None
    metric: Text
    direction: Literal["higher", "lower"] | None = None
    fixed: dict[Text, Any] = Field(default_factory=dict, alias="set")
    grid: dict[Text, list[Any]]

    @field_validator("grid", mode="before")
    @classmethod
    def lists_of_values(cls, grid: Any) -> Any:
        if not isinstance(grid, dict):
            return grid  # the schema says what it must be
        if not grid:
            raise ValueError("names no parameter: give at least one, with a list of values")
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"{key} must be a list of at least one value such as [0.5, 2.0], got {values!r}")
            repeated = [value for i, value in enumerate(values) if value in values[:i]]
            if repeated:
                raise ValueError(f"{key} lists {repeated[0]!r} more than once")
        return grid


@dataclass(frozen=True)
class Cell:
    """One experiment of the sweep: its name and every parameter it sets (dotted key -> value)."""

    name: str
    params: dict[str, Any]

    @property
    def overrides(self) -> list[str]:
        """`-S` values for `dvc exp run`: JSON is YAML, so DVC reads back exactly these values."""
        return [f"{key}={json.dumps(value)}" for key, value in self.params.items()]


@dataclass(frozen=True)
class Sweep:
    name: str
    path: str
    metric: str
    direction: str
    grid_keys: list[str]
    fixed: dict[str, Any]
    cells: list[Cell]

    def cell(self, name: str) -> Cell:
        for cell in self.cells:
            if cell.name == name:
                return cell
        raise SweepError(f"{name!r} is not a cell of {self.path} (its cells: {', '.join(self.names())})")

    def names(self) -> list[str]:
        return [cell.name for cell in self.cells]


def cells_of(name: str, fixed: dict[str, Any], grid: dict[str, list[Any]]) -> list[Cell]:
    """Every combination of the grid's values (the first key varies slowest), each with the fixed values first."""
    keys = list(grid)
    return [
        Cell(f"{name}-{i}", {**fixed, **dict(zip(keys, values, strict=True))})
        for i, values in enumerate(itertools.product(*(grid[key] for key in keys)), start=1)
    ]


def with_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of the params tree with each dotted key set, as `dvc exp run -S` writes params.yaml."""
    tree = copy.deepcopy(params)
    for key, value in overrides.items():
        *sections, leaf = key.split(".")
        node = tree
        for section in sections:
            node = node[section]
        node[leaf] = value
    return tree


def check_key(key: str, where: str, known: dict[str, Any]) -> None:
    """A key a sweep may set: a value of params.yaml (not a whole section), outside NOT_SWEPT."""
    section = key.split(".", 1)[0]
    if section in NOT_SWEPT:
        raise SweepError(f"{where}.{key}: a sweep cannot change {section}.*: {NOT_SWEPT[section]}")
    if key not in known:
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SweepError(f"{where}.{key} is not a parameter of params.yaml{hint}")


def default_direction(metric: str, params: dict[str, Any]) -> str | None:
    """The direction of the gate.regression rule that covers `metric`, if one does."""
    rule = rule_for(metric, parse_rules(params["gate"].get("regression")))
    return rule.direction if rule else None


def load_sweep(path: str | Path, params: dict[str, Any] | None = None) -> Sweep:
    """Read and check a sweep file against params.yaml (loaded when not given); a SweepError names the problem."""
    path = Path(path)
    source = str(path)
    if path.suffix != ".yaml":
        raise SweepError(f"{source}: a sweep file is sweeps/<name>.yaml")
    if not NAME.fullmatch(path.stem):
        raise SweepError(
            f"{source}: the sweep's name {path.stem!r} (its file name) must be 1 to 40 lowercase letters, "
            "digits, '-' or '_', starting with a letter or a digit"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        found = ", ".join(str(p) for p in sorted(SWEEPS_DIR.glob("*.yaml"))) or "none"
        raise SweepError(f"{source} not found (sweep files here: {found})") from None
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SweepError(f"{source} is not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    try:
        spec = check(tree, SweepFile, source=source)
    except ParamsError as err:
        raise SweepError(str(err)) from None
    params = load_params() if params is None else params
    known = flatten(params)
    for where, keys in (("set", spec.fixed), ("grid", spec.grid)):
        for key in keys:
            check_key(key, f"{source}: {where}", known)
    both = sorted(set(spec.fixed) & set(spec.grid))
    if both:
        raise SweepError(f"{source}: {both[0]} is both in set and in grid: keep it in one")
    direction = spec.direction or default_direction(spec.metric, params)
    if direction is None:
        raise SweepError(
            f"{source}: direction is missing and gate.regression in params.yaml has no rule for {spec.metric}: "
            "add `direction: higher` or `direction: lower`"
        )
    cells = cells_of(path.stem, spec.fixed, spec.grid)
    if len(cells) > MAX_CELLS:
        raise SweepError(f"{source}: the grid has {len(cells)} combinations; a CI matrix runs at most {MAX_CELLS}")
    for cell in cells:
        try:
            check(with_overrides(params, cell.params), Params, source=f"{source}, cell {cell.name}")
        except ParamsError as err:
            raise SweepError(str(err)) from None
    return Sweep(path.stem, source, spec.metric, direction, list(spec.grid), dict(spec.fixed), cells)


def plan(sweep: Sweep) -> dict[str, Any]:
    """The matrix: each cell's name, values and `-S` overrides, in order."""
    return {
        "sweep": sweep.name,
        "metric": sweep.metric,
        "direction": sweep.direction,
        "cells": [{"name": cell.name, "params": cell.params, "overrides": cell.overrides} for cell in sweep.cells],
    }


def gitlab_child(sweep: Sweep, jobs_file: str | Path) -> str:
    """The jobs of `jobs_file` as a child pipeline, each `parallel: matrix` entry's CELL set to the sweep's cells."""
    jobs = yaml.safe_load(Path(jobs_file).read_text(encoding="utf-8"))
    filled = 0
    for job in jobs.values():
        for entry in (job.get("parallel") or {}).get("matrix", []) if isinstance(job, dict) else []:
            if "CELL" in entry:
                entry["CELL"] = sweep.names()
                filled += 1
    if not filled:
        raise SweepError(f"{jobs_file} has no job with `parallel: matrix` over CELL")
    return yaml.safe_dump(jobs, sort_keys=False, width=120)


def dvc_exp_run(cell: Cell, queue: bool = False, pull: bool = False) -> list[str]:
    """The command that runs (or queues) one cell: a list of arguments, never shell text.

    `pull`: stages found in the run-cache get their outputs from the DVC remote
    (`dvc pull --run-cache` fetches the run-cache's entries, not their outputs).
    """
    command = ["dvc", "exp", "run", "-n", cell.name, *(["--queue"] if queue else []), *(["--pull"] if pull else [])]
    for override in cell.overrides:
        command += ["-S", override]
    return command


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    print(f"+ {shlex.join(command)}", file=sys.stderr, flush=True)
    return subprocess.run(command, check=False, **kwargs)


def run_cell(sweep: Sweep, name: str, pull: bool = False) -> int:
    """Run one cell in the workspace; DVC restores what the cache or run-cache already has."""
    return run(dvc_exp_run(sweep.cell(name), pull=pull)).returncode


def push_cell(sweep: Sweep, name: str, remote: str, outputs: bool) -> int:
    """`dvc exp push` one cell's experiment, then check that `remote` has it.

    `dvc exp push` exits 0 without pushing when the remote already holds a different
    experiment of that name (an earlier run of the sweep at the same commit), which
    would leave that older experiment in the table: here that is an error.
    """
    cell = sweep.cell(name)
    baseline = head_commit()
    local = experiment_commit(baseline, cell.name)
    if local is None:
        raise SweepError(f"no experiment {cell.name} of HEAD here: run the cell first (make sweep-cell)")
    cache = ["--run-cache"] if outputs else ["--no-cache"]
    if run(["dvc", "exp", "push", *cache, remote, cell.name]).returncode != 0:
        return 1
    ref = experiment_ref(baseline, cell.name)
    listed = git("ls-remote", "--end-of-options", remote, ref)
    pushed = listed.stdout.split()[0] if listed.returncode == 0 and listed.stdout.strip() else None
    if pushed is None:
        raise SweepError(f"{remote} does not list experiment {cell.name} after the push (see dvc's output above)")
    if pushed != local:
        raise SweepError(
            f"{remote} has another experiment {cell.name} of this commit after the push (an earlier run of the "
            f"sweep): remove it with `dvc exp remove -g {remote} {cell.name}` and run the cell again, "
            "or sweep from a new commit"
        )
    return 0


# Collecting: each cell's experiment of HEAD, read from git (metrics, params and cases are committed).


@dataclass
class Result:
    """One row of the comparison: an experiment (or HEAD), what it measured and what promote would decide."""

    name: str
    commit: str | None  # None: no experiment of that name at HEAD (its cell failed or was not pushed)
    params: dict[str, Any] = field(default_factory=dict)  # the swept values it ran with
    metrics: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None
    cases: list[CaseDiff] = field(default_factory=list)


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def head_commit() -> str:
    found = git("rev-parse", "--verify", "HEAD^{commit}")
    if found.returncode != 0:
        raise SweepError("no commit yet: experiments are kept against a commit (git commit first)")
    return found.stdout.strip()


def experiment_ref(baseline: str, name: str) -> str:
    """Where DVC keeps experiment `name` of commit `baseline`."""
    return f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}"


def experiment_commit(baseline: str, name: str) -> str | None:
    """The commit of experiment `name` of `baseline`, if this clone has it."""
    found = git("rev-parse", "--verify", "--quiet", experiment_ref(baseline, name) + "^{commit}")
    return found.stdout.strip() if found.returncode == 0 else None


def pull_experiments(remote: str, names: list[str]) -> None:
    """`dvc exp pull` of the cells' git refs (no outputs: the table needs only what git holds)."""
    if run(["dvc", "exp", "pull", "--no-cache", remote, *names]).returncode == 0:
        return
    for name in names:  # one at a time, so a cell that failed does not hide the others
        run(["dvc", "exp", "pull", "--no-cache", remote, name])


def read_result(name: str, commit: str, baseline: str, keys: list[str], params: dict[str, Any]) -> Result:
    """What `commit` measured, its swept values, and promote's decision under HEAD's floors, computed here."""
    try:
        metrics = read_base_metrics(commit, name)  # the metrics files that exist there
    except GateError as err:
        raise SweepError(str(err)) from None
    ran_with = flatten(yaml.safe_load(read_at(commit, "params.yaml") or "{}") or {})
    must_pass = json.loads(read_at(commit, MUST_PASS) or "[]")
    decision = decide(metrics, must_pass, params["gate"], params["evaluate"]["min_support"]) if metrics else None
    cases = case_diffs(baseline, commit) if commit != baseline else []
    return Result(name, commit, {key: ran_with.get(key) for key in keys}, metrics, decision, cases)


def collect(sweep: Sweep, params: dict[str, Any]) -> tuple[Result, list[Result]]:
    """HEAD's row and one row per cell, in the sweep's order."""
    baseline = head_commit()
    keys = sweep.grid_keys
    head = read_result("HEAD", baseline, baseline, keys, params)
    rows = []
    for name in sweep.names():
        commit = experiment_commit(baseline, name)
        rows.append(read_result(name, commit, baseline, keys, params) if commit else Result(name, None))
    return head, rows


def best_of(rows: list[Result], metric: str, direction: str) -> list[str]:
    """Names of the promoted experiments with the best value of `metric` (several on a tie, in sweep order)."""
    candidates = [
        (row.name, float(row.metrics[metric]))
        for row in rows
        if row.decision is not None and row.decision.promoted and is_number(row.metrics.get(metric))
    ]
    if not candidates:
        return []
    pick = max if direction == "higher" else min
    best = pick(value for _, value in candidates)
    return [name for name, value in candidates if value == best]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def gated_metrics(metric: str, params: dict[str, Any]) -> list[str]:
    """The table's metric columns: the sweep's metric, then each floor named exactly (not by a pattern)."""
    floors = [name for name in flatten(params["gate"]["thresholds"]) if not any(c in name for c in "*?[")]
    return list(dict.fromkeys([metric, *floors]))


def decision_text(decision: Decision | None) -> str:
    if decision is None:
        return "no metrics"
    if decision.promoted:
        return "promoted"
    reasons = [
        f"{md_code(name, in_table=True)} {value:.4f} < {floor:.4f}"
        for name, value, floor, ok in decision.rows
        if not ok
    ]
    if decision.failed_cases:
        reasons.append(f"{len(decision.failed_cases)} must-pass failed")
    return "refused: " + ", ".join(reasons)


def param_value(value: Any) -> str:
    """A parameter as written in params.yaml (4.0, not 4.0000); text escaped as code."""
    return json.dumps(value) if is_number(value) else format_value(value)


def case_counts(cases: list[CaseDiff], kind: str) -> str:
    """'worse / better' for one kind of case against HEAD, or '–' when the experiment has none of that kind."""
    for diff in cases:
        if diff.kind == kind:
            return f"{len(diff.degraded)} / {len(diff.improved)}"
    return "–"


CASE_KINDS = ("test tickets", "golden queries", "must-pass tickets")


def markdown(sweep: Sweep, head: Result, rows: list[Result], columns: list[str]) -> str:
    """The comparison table and the best experiment. Every value from params or metrics is escaped."""
    found = [row for row in rows if row.commit]
    best = best_of(found, sweep.metric, sweep.direction)
    lines = [
        f"## Sweep {md_code(sweep.name)}: {len(found)} of {len(rows)} experiments of HEAD ({head.commit[:7]})",
        "",
    ]
    metric = md_code(sweep.metric)
    if best:
        value = format_value({row.name: row for row in rows}[best[0]].metrics[sweep.metric])
        tied = f", tied with {', '.join(md_code(name) for name in best[1:])}" if len(best) > 1 else ""
        lines.append(
            f"Best by {metric} ({sweep.direction} is better): **{md_code(best[0])}** ({value}{tied}; "
            f"HEAD {format_value(head.metrics.get(sweep.metric))})."
        )
    else:
        lines.append(f"No experiment was promoted with a value of {metric}: none is named best.")
    if sweep.fixed:
        shared = ", ".join(md_code(f"{key}={json.dumps(value)}") for key, value in sweep.fixed.items())
        lines += ["", f"Every experiment also sets {shared}."]
    header = ["experiment", *(md_code(key, in_table=True) for key in sweep.grid_keys)]
    header += [md_code(name, in_table=True) for name in columns]
    header += ["promotion (HEAD's floors)", *(f"{kind}: worse / better" for kind in CASE_KINDS)]
    numbers = len(sweep.grid_keys) + len(columns)
    align = ["---", *["---:"] * numbers, "---", *["---:"] * len(CASE_KINDS)]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for row in [head, *rows]:
        name = "HEAD" if row is head else md_code(row.name, in_table=True)
        if row.commit is None:
            missing = ["–"] * numbers + ["no experiment: the cell failed or was not pushed"] + ["–"] * len(CASE_KINDS)
            lines.append("| " + " | ".join([name, *missing]) + " |")
            continue
        values = [param_value(row.params.get(key)) for key in sweep.grid_keys]
        values += [format_value(row.metrics.get(name)) for name in columns]
        counts = ["–"] * 3 if row is head else [case_counts(row.cases, kind) for kind in CASE_KINDS]
        marker = " ★" if row.name in best else ""
        lines.append("| " + " | ".join([name + marker, *values, decision_text(row.decision), *counts]) + " |")
    lines += [
        "",
        "Cases: how many went from right to wrong and back against HEAD. Promotion: promote's floors of HEAD's "
        "params.yaml applied to each experiment's metrics in this run.",
    ]
    return "\n".join(lines) + "\n"


# The local queue.


def queue_states() -> dict[str, str]:
    """Experiment name -> Queued / Running / Success / Failed, from `dvc queue status`."""
    shown = subprocess.run(["dvc", "queue", "status"], capture_output=True, text=True, check=False)
    return parse_queue_status(shown.stdout)


def parse_queue_status(shown: str) -> dict[str, str]:
    """The states in the table `dvc queue status` prints (Task, Name, Created, Status; Created spans words)."""
    states = {}
    for line in shown.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] != "Task" and parts[-1] in QUEUE_STATES:
            states[parts[1]] = parts[-1]
    return states


def run_queue(sweep: Sweep, jobs: int, timeout: float) -> None:
    """Queue every cell, start `jobs` workers and wait until each cell succeeded or failed."""
    for cell in sweep.cells:
        if run(dvc_exp_run(cell, queue=True)).returncode != 0:
            raise SweepError(f"could not queue {cell.name} (see above)")
    if run(["dvc", "queue", "start", "-j", str(jobs)], stdout=subprocess.DEVNULL).returncode != 0:
        raise SweepError("dvc queue start failed (see above)")
    deadline = time.monotonic() + timeout
    while True:
        states = queue_states()
        if all(states.get(name) in ("Success", "Failed") for name in sweep.names()):
            break
        if time.monotonic() > deadline:
            raise SweepError(f"the sweep did not finish within {timeout:g} s: stop it with `dvc queue stop --kill`")
        time.sleep(3)
    failed = [name for name in sweep.names() if states[name] == "Failed"]
    if failed:
        print(f"sweep: failed: {', '.join(failed)} (`dvc queue logs <name>` shows why)", file=sys.stderr)


def write_report(sweep: Sweep, params: dict[str, Any], report: str | None) -> int:
    """Collect, print and write the table; exit 1 when a cell has no experiment."""
    head, rows = collect(sweep, params)
    text = markdown(sweep, head, rows, gated_metrics(sweep.metric, params))
    missing = [row.name for row in rows if row.commit is None]
    if not any(sweep.metric in row.metrics for row in [head, *rows] if row.commit):
        raise SweepError(f"{sweep.path}: no experiment has the metric {sweep.metric}")
    path = Path(report) if report else REPORTS_DIR / f"{sweep.name}.md"
    write_text(text, path)
    print(text)
    if missing:
        print(f"sweep: no experiment for {', '.join(missing)}", file=sys.stderr)
    return 1 if missing else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m {{ cookiecutter.package_name }}.sweep", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    planned = commands.add_parser("plan", help="print the cells as JSON")
    planned.add_argument("sweep")
    shape = planned.add_mutually_exclusive_group()
    shape.add_argument("--names", action="store_true", help="only the cells' names, one JSON line (a CI matrix)")
    shape.add_argument("--gitlab-child", metavar="JOBS", help="JOBS (YAML) with the cells as its matrix")
    cell = commands.add_parser("run-cell", help="run one cell: dvc exp run -n CELL -S ...")
    cell.add_argument("sweep")
    cell.add_argument("cell")
    cell.add_argument("--pull", action="store_true", help="restore run-cached stages' outputs from the DVC remote")
    pushed = commands.add_parser("push", help="dvc exp push one cell, and check that the remote has it")
    pushed.add_argument("sweep")
    pushed.add_argument("cell")
    pushed.add_argument("--remote", default="origin", help="the git remote (default: origin)")
    pushed.add_argument("--run-cache", action="store_true", help="also push outputs and run-cache to the DVC remote")
    collected = commands.add_parser("collect", help="the comparison table of the cells' experiments of HEAD")
    collected.add_argument("sweep")
    collected.add_argument("--pull", metavar="REMOTE", help="dvc exp pull the cells from this git remote first")
    collected.add_argument("--report", metavar="PATH", help="where to write it (default: reports/sweeps/<name>.md)")
    queued = commands.add_parser("queue", help="run the sweep through the local DVC queue, then collect")
    queued.add_argument("sweep")
    queued.add_argument("--jobs", type=int, default=2, help="queue workers (default: 2)")
    queued.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the queue (default: 3600)")
    queued.add_argument("--report", metavar="PATH", help="where to write the table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        params = load_params()
        sweep = load_sweep(args.sweep, params)
        if args.command == "plan":
            if args.names:
                print(json.dumps(sweep.names()))
            elif args.gitlab_child:
                print(gitlab_child(sweep, args.gitlab_child), end="")
            else:
                print(json.dumps(plan(sweep), indent=2))
            return 0
        if args.command == "run-cell":
            return run_cell(sweep, args.cell, args.pull)
        if args.command == "push":
            return push_cell(sweep, args.cell, args.remote, args.run_cache)
        if args.command == "queue":
            run_queue(sweep, args.jobs, args.timeout)
        elif args.pull:
            pull_experiments(args.pull, sweep.names())
        return write_report(sweep, params, args.report)
    except StageError as err:
        print(f"sweep: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
