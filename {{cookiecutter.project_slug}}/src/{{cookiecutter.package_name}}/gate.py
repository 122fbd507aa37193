"""The regression gate: is this change worse than the base branch?

`python -m {{ cookiecutter.package_name }}.gate [--base REV] [--report PATH] [--json]` (or `make gate`)
reads the metrics of the workspace and of the base revision through DVC's Python
API, applies the rules under `gate.regression` in params.yaml, and exits with

- 0: pass. No required metric got worse beyond its tolerance (or there is no
  baseline yet, which it says).
- 1: regression. A required metric got worse beyond its tolerance, vanished, or
  is not a number.
- 2: cannot compare. A bad rule, an unknown base revision, or an unreadable
  metrics file.

`dvc metrics diff` shows differences but always exits 0, and prints nothing
when it cannot read a metrics file, so a gate built on it passes silently.
`dvc.api.metrics_show` raises instead, and every such case ends here as one line.

This gate asks "is it worse than before?". Whether a model is good enough to
ship at all is the other gate: `promote` checks the floors in `gate.thresholds`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .casediff import TICKETS, CaseDiff, case_diffs, confusion_changes, mermaid_charts, read_at
from .io import read_json, write_json, write_text
from .metrics import dimension_of, read_metrics, support_of
from .params import ParamsError, RegressionRule, check, flatten, load_params
from .runner import TIMINGS_DIR

EXIT_PASS, EXIT_REGRESSION, EXIT_CANNOT_COMPARE = 0, 1, 2
# Metrics are rounded when written; a difference below this is float noise, not a change.
EPSILON = 1e-9
REPORT_MARKER = "<!-- regression-gate-report -->"
WORSE_NOT_REQUIRED = "worse (not required)"
WORSE_NOT_GATED = "worse (too few cases to gate)"


class GateError(Exception):
    """The gate cannot compare the two revisions (exit 2); the message says why."""


@dataclass(frozen=True)
class Rule:
    """How one metric (or a glob pattern of metrics) may change.

    A metric may get worse by at most ``max(abs_tol, rel_tol * |base|)``, the
    same convention as :func:`math.isclose`.
    """

    pattern: str
    direction: str
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    required: bool = True

    def allowed(self, base: float) -> float:
        return max(self.abs_tol, self.rel_tol * abs(base))

    def describe(self) -> str:
        parts = [f"{self.direction} is better"]
        if self.abs_tol:
            parts.append(f"abs {self.abs_tol:g}")
        if self.rel_tol:
            parts.append(f"rel {self.rel_tol:.1%}")
        if not self.abs_tol and not self.rel_tol:
            parts.append("no tolerance")
        if not self.required:
            parts.append("not required")
        return ", ".join(parts)


@dataclass
class Row:
    """One metric of the comparison."""

    metric: str
    base: Any
    current: Any
    rule: Rule | None
    verdict: str
    failed: bool = False

    @property
    def worse_by(self) -> float:
        """How much worse than the base, in the rule's direction (negative: better; 0: not comparable)."""
        if self.rule is None or not (is_number(self.base) and is_number(self.current)):
            return 0.0
        delta = float(self.current) - float(self.base)
        return -delta if self.rule.direction == "higher" else delta

    @property
    def change(self) -> str:
        if not (is_number(self.base) and is_number(self.current)):
            return ""
        delta = float(self.current) - float(self.base)
        if abs(delta) <= EPSILON:
            return "0"
        counts = isinstance(self.base, int) and isinstance(self.current, int)
        absolute = f"{int(delta):+d}" if counts else f"{delta:+.4f}"
        relative = f" ({delta / abs(float(self.base)):+.1%})" if float(self.base) else ""
        return absolute + relative


@dataclass
class GateResult:
    exit_code: int
    headline: str
    base: str
    base_commit: str = ""
    rows: list[Row] = field(default_factory=list)
    changed_params: list[tuple[str, Any, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    refusal: Any = None  # promote's Decision when the candidate was not promoted
    cases: list[CaseDiff] = field(default_factory=list)
    confusion: list[tuple[str, str, int, int]] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)


def is_number(value: Any) -> bool:
    """True for a finite or infinite real number; False for NaN, text, booleans and missing values."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def parse_rules(raw: Any) -> list[Rule]:
    """`gate.regression` as rules, checked against the params schema: a mapping of metric name (or glob) to rule."""
    try:
        checked = check(raw, dict[str, RegressionRule] | None, prefix="gate.regression")
    except ParamsError as err:
        raise GateError(str(err)) from None
    return [Rule(str(pattern), **rule.model_dump()) for pattern, rule in (checked or {}).items()]


def rule_for(metric: str, rules: list[Rule]) -> Rule | None:
    """The rule naming `metric` exactly, else the first glob pattern that matches it."""
    for rule in rules:
        if rule.pattern == metric:
            return rule
    return next((rule for rule in rules if fnmatch.fnmatchcase(metric, rule.pattern)), None)


def compare(metric: str, base: Any, current: Any, rule: Rule | None, base_missing: bool, current_missing: bool) -> Row:
    """The verdict on one metric. Only a rule with `required: true` can fail the gate."""
    required = rule is not None and rule.required
    if current_missing:
        return Row(metric, base, None, rule, "vanished", failed=required)
    if not is_number(current):
        return Row(metric, base, current, rule, "not a number", failed=required)
    if base_missing:
        return Row(metric, None, current, rule, "new")
    if not is_number(base):
        return Row(metric, base, current, rule, "no baseline (base is not a number)")
    delta = float(current) - float(base)
    if rule is None:
        return Row(metric, base, current, None, "unchanged" if abs(delta) <= EPSILON else "changed")
    worse_by = -delta if rule.direction == "higher" else delta
    if worse_by > rule.allowed(float(base)) + EPSILON:
        return Row(metric, base, current, rule, "regressed" if required else WORSE_NOT_REQUIRED, failed=required)
    if worse_by > EPSILON:
        return Row(metric, base, current, rule, "within tolerance")
    return Row(metric, base, current, rule, "improved" if worse_by < -EPSILON else "unchanged")


def compare_all(base: dict[str, Any] | None, current: dict[str, Any], rules: list[Rule]) -> list[Row]:
    """Compare every metric of either side; `base` is None when there is no baseline."""
    known = set(current) | set(base or {})
    for rule in rules:
        if not any(fnmatch.fnmatchcase(name, rule.pattern) for name in known):
            raise GateError(f"gate.regression.{rule.pattern} names no metric of either revision (a typo?)")
    rows = []
    for name in sorted(known):
        rule = rule_for(name, rules)
        if base is None:
            rows.append(compare(name, None, current[name], rule, base_missing=True, current_missing=False))
        else:
            rows.append(
                compare(
                    name,
                    base.get(name),
                    current.get(name),
                    rule,
                    base_missing=name not in base,
                    current_missing=name not in current,
                )
            )
    return rows


def ungate_small_slices(
    rows: list[Row], current: dict[str, Any], base: dict[str, Any] | None, min_support: int
) -> None:
    """Slice metrics of fewer than `min_support` cases are reported but never fail: they measure noise.
    Rows with nothing to compare (new, or no baseline) are left as they are."""
    for row in rows:
        support = support_of(row.metric, current if row.metric in current else base or {})
        if row.rule is None or support is None or support >= min_support or row.base is None:
            continue
        if row.failed or row.verdict == WORSE_NOT_REQUIRED:
            row.verdict = WORSE_NOT_GATED
        row.verdict += f" ({support} cases < evaluate.min_support {min_support}: not gated)"
        row.failed = False


def resolve_commit(rev: str) -> str:
    """The commit id of `rev` (a revision, or the name of a `dvc exp` experiment), or a GateError."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}"],  # a rev is never an option
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        experiment = experiment_commit(rev)
        if experiment:
            return experiment
        hint = ""
        if rev.startswith("origin/"):
            branch = rev.removeprefix("origin/")
            hint = f": fetch it with `git fetch origin +refs/heads/{branch}:refs/remotes/origin/{branch}`"
        raise GateError(f"unknown base revision {rev!r}{hint}")
    return found.stdout.strip()


def experiment_commit(name: str) -> str | None:
    """The commit of the `dvc exp` experiment called `name` (refs/exps/<baseline>/<name>), if there is one."""
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    matches = [line.split()[1] for line in refs if line.split()[0].rsplit("/", 1)[-1] == name]
    return matches[0] if len(matches) == 1 else None


def declared_metric_files(rev: str) -> list[str]:
    """The metrics files that dvc.yaml declares at `rev` (top level and per stage)."""
    import dvc.api

    try:
        pipeline = yaml.safe_load(dvc.api.read("dvc.yaml", rev=rev)) or {}
    except FileNotFoundError:
        return []
    entries = list(pipeline.get("metrics") or [])
    for stage in (pipeline.get("stages") or {}).values():
        entries.extend((stage or {}).get("metrics") or [])
    paths = [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]
    return [path for path in paths if "${" not in path]


def read_base_metrics(rev: str, name: str | None = None) -> dict[str, Any]:
    """The metrics committed at `rev` (called `name` in messages); files that do not exist there are left out.

    A base from before a stage existed, or from before the pipeline ever ran, has
    some or all metrics files missing; their metrics count as new, not as an error.
    """
    import dvc.api

    try:
        return read_metrics(rev)
    except FileNotFoundError:
        pass  # some file is missing at the base: read the others one by one
    except Exception as err:
        raise GateError(f"cannot read the metrics at {name or rev}: {err}") from err
    metrics: dict[str, Any] = {}
    for path in declared_metric_files(rev):
        try:
            metrics.update(flatten(dvc.api.metrics_show(path, rev=rev)))
        except FileNotFoundError:
            continue
        except Exception as err:
            raise GateError(f"cannot read {path} at {name or rev}: {err}") from err
    return metrics


def read_current_metrics() -> dict[str, Any]:
    try:
        metrics = read_metrics()
    except FileNotFoundError as err:
        raise GateError(f"{err.filename or err} is missing in the workspace: run `dvc repro` first") from err
    except Exception as err:
        raise GateError(f"cannot read the workspace metrics: {err}") from err
    if not metrics:
        raise GateError("dvc.yaml declares no metrics, so there is nothing to compare")
    return metrics


def changed_params(rev: str) -> list[tuple[str, Any, Any]]:
    """(name, base, current) for every parameter that differs from `rev`, like `dvc params diff`."""
    import dvc.api

    try:
        base = flatten(dvc.api.params_show(rev=rev))
    except FileNotFoundError:
        base = {}
    current = flatten(dvc.api.params_show())
    names = sorted(set(base) | set(current))
    return [(name, base.get(name), current.get(name)) for name in names if base.get(name) != current.get(name)]


def declared_plots(dvc_yaml: str = "dvc.yaml") -> list[str]:
    """The plot files dvc.yaml declares at the top level, for the report's links."""
    with open(dvc_yaml, encoding="utf-8") as f:
        pipeline = yaml.safe_load(f) or {}
    entries = pipeline.get("plots") or []
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]


def default_base() -> str:
    """`$BASE`, else the branch CI compares against (GitHub Actions, GitLab CI), else `main`."""
    if os.environ.get("BASE"):
        return os.environ["BASE"]
    for variable in ("GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"):
        if os.environ.get(variable):
            return f"origin/{os.environ[variable]}"
    return "main"


def run_gate(base: str, params_file: str = "params.yaml") -> GateResult:
    """Compare the workspace with `base` under the rules in `params_file`."""
    try:
        params = load_params(params_file)
    except ParamsError as err:
        raise GateError(str(err)) from None
    rules = parse_rules(params["gate"].get("regression"))
    commit = resolve_commit(base)
    current = read_current_metrics()
    base_metrics = read_base_metrics(commit, base)
    result = GateResult(EXIT_PASS, "", base, commit[:7], plots=declared_plots())
    if not base_metrics:
        result.rows = compare_all(None, current, rules)
        result.notes.append(f"{base} has no metrics (a first commit, or the pipeline never ran there).")
    else:
        result.rows = compare_all(base_metrics, current, rules)
    ungate_small_slices(result.rows, current, base_metrics, params["evaluate"]["min_support"])
    if base_metrics:
        result.cases = case_diffs(commit)
        result.confusion = confusion_changes(read_at(commit, TICKETS), read_at(None, TICKETS))
        result.charts = mermaid_charts(commit, f"the base ({md_code(base)})")
    result.costs = stage_costs()
    result.changed_params = changed_params(commit)
    if any(name.startswith("gate.regression.") for name, *_ in result.changed_params):
        result.notes.append("This change edits the gate's own rules (`gate.regression`): review them below.")
    if not rules:
        result.notes.append("`gate.regression` names no metric, so nothing can fail this gate.")

    if current.get("promotion.promoted") == 0:  # a refused candidate fails the gate too, with promote's table
        from .stages.promote import current_decision

        result.refusal = current_decision(params["gate"], params["evaluate"]["min_support"])
    failed = [row for row in result.rows if row.failed]
    if failed or result.refusal:
        result.exit_code = EXIT_REGRESSION
        problems = []
        if result.refusal:
            missed = [name for name, _, _, passed in result.refusal.rows if not passed]
            cases = len(result.refusal.failed_cases)
            reasons = missed + ([f"{cases} must-pass ticket(s) failed"] if cases else [])
            problems.append(f"not promoted ({', '.join(reasons)})")
        if failed:
            names = ", ".join(f"{row.metric} ({row.verdict})" for row in failed)
            problems.append(f"regression against {base}: {names}")
        result.headline = "; ".join(problems)
    elif not base_metrics:
        result.headline = f"pass: no baseline at {base}, nothing to compare yet"
    else:
        result.headline = f"pass: no required metric got worse than at {base} beyond its tolerance"
    return result


def format_value(value: Any) -> str:
    """A value for a table cell. Numbers as numbers; anything else is text from the change, escaped."""
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.4f}"
    if is_number(value):
        return str(value)
    return md_code(value if isinstance(value, str) else json.dumps(value, default=str), in_table=True)


# Markdown that a change can put into the report (metric names come from labels, params from
# params.yaml, revisions from branch names) is escaped, so it can add no heading, table cell,
# link, image or HTML to the pull-request comment.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()#+!|~])")
HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md_text(value: Any) -> str:
    """Plain text on one line: Markdown's link, emphasis, code and table marks backslash-escaped, HTML as entities."""
    text = MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return re.sub(r"[&<>]", lambda m: HTML_SPECIAL[m.group()], text)


def md_code(value: Any, in_table: bool = False) -> str:
    """A code span on one line that holds `value` whatever backticks it contains; pipes escaped in a table."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`") or not text.strip():
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")  # GFM splits table cells on a pipe even inside a code span
    return f"{fence}{text}{fence}"


def markdown_report(result: GateResult) -> str:
    """The report for a pull-request comment or a CI job summary: the verdict first."""
    if result.exit_code == EXIT_CANNOT_COMPARE:
        title = f"⚠️ Regression gate: cannot compare with {md_code(result.base)}"
    elif result.exit_code == EXIT_REGRESSION:
        title = f"❌ Regression gate: failed against {md_code(result.base)}"
    else:
        title = f"✅ Regression gate: passed against {md_code(result.base)}"
    lines = [REPORT_MARKER, f"## {title}", "", f"**{md_text(result.headline)}**"]
    if result.base_commit:
        where = f"{md_code(result.base)} at commit {md_code(result.base_commit)}"
        lines += ["", f"Base: {where}. Rules: `gate.regression` in params.yaml."]
    lines += [f"\n> {md_text(note)}" for note in result.notes]

    if result.refusal:
        lines += [
            "",
            "### ❌ Promotion refused",
            "",
            "`promote` did not install this candidate; production is unchanged.",
        ]
        lines += ["", "| metric | achieved | floor | verdict |", "|---|---:|---:|---|"]
        for name, value, floor, passed in result.refusal.rows:
            verdict = "✅ ok" if passed else "❌ too low"
            lines.append(f"| {md_code(name, in_table=True)} | {value:.4f} | {floor:.4f} | {verdict} |")
        if result.refusal.failed_cases:
            lines.append("")
        for case in result.refusal.failed_cases:
            lines.append(
                f"- must-pass ticket failed: {md_code(case['text'])}: expected {md_code(case['expected'])}, "
                f"got {md_code(case['predicted'])}"
            )

    # Failures first, then warnings, then the other ruled metrics; each group by name.
    gated = sorted((row for row in result.rows if row.rule), key=lambda row: (severity(row), row.metric))
    others = [row for row in result.rows if not row.rule]
    overall = [row for row in gated if dimension_of(row.metric) is None]
    if overall:
        lines += ["", *table(overall)]
    lines += slices_section([row for row in gated if dimension_of(row.metric) is not None])
    if others:
        counts = Counter(row.verdict for row in others if row.verdict != "unchanged")
        breakdown = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())) or "none changed"
        lines += [
            "",
            f"<details><summary>{len(others)} metrics without a rule ({breakdown}): reported only</summary>",
            "",
            *table(others),
            "",
            "</details>",
        ]
    lines += cases_section(result)
    if result.charts:
        lines += ["", "### Base and change, side by side", *result.charts]
    if result.costs:
        lines += ["", "### Cost of the evaluation", "", "| stage | wall (s) | CPU (s) |", "|---|---:|---:|"]
        for cost in result.costs:
            lines.append(f"| {md_code(cost['stage'], in_table=True)} | {cost['wall_s']:.1f} | {cost['cpu_s']:.1f} |")
        total_wall, total_cpu = sum(c["wall_s"] for c in result.costs), sum(c["cpu_s"] for c in result.costs)
        lines.append(f"| total | {total_wall:.1f} | {total_cpu:.1f} |")
        lines += ["", "Stages that ran in this workspace, as each last ran (`reports/timings/`)."]
    if result.exit_code != EXIT_CANNOT_COMPARE:
        lines += ["", "### Changed parameters", ""]
        if result.changed_params:
            lines += ["| parameter | base | current |", "|---|---|---|"]
            for name, old, new in result.changed_params:
                lines.append(f"| {md_code(name, in_table=True)} | {format_value(old)} | {format_value(new)} |")
        else:
            lines.append(f"None: params.yaml is as at {md_code(result.base)}.")
    if result.plots:
        lines += ["", "### Plots", ""]
        lines.append(
            f"Compare them with {md_code(f'dvc plots diff {result.base}')}; CI renders them into `reports/plots/`."
        )
        lines += [f"- {md_code(path)}" for path in result.plots]
    lines += ["", "Exit codes: 0 pass, 1 regression, 2 cannot compare."]
    return "\n".join(lines) + "\n"


def slices_section(rows: list[Row]) -> list[str]:
    """Slice rows grouped under their dimension (tickets by channel, ...): worst dimension first, worst row first."""
    if not rows:
        return []
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(dimension_of(row.metric), []).append(row)
    for members in groups.values():
        members.sort(key=lambda row: (severity(row), -row.worse_by, row.metric))
    lines = ["", "### Slices", "", "Each slice's metrics against the base; a slice of few cases is reported only."]
    for dimension, members in sorted(groups.items(), key=lambda item: (severity(item[1][0]), -item[1][0].worse_by)):
        _, table_name, column = dimension.split(".")
        lines += ["", f"**{md_text(table_name)} by {md_code(column)}**", "", *table(members)]
    return lines


SHOWN_CASES = 10  # per list in the report; the full lists go to the case-changes file beside it


def cases_section(result: GateResult) -> list[str]:
    """Which cases the change broke and which it fixed: counts, then the first few of each."""
    if not result.cases:
        return []
    lines = ["", "### Cases", "", "| cases | right → wrong | wrong → right | unchanged | new | gone |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for diff in result.cases:
        counts = (len(diff.degraded), len(diff.improved), diff.unchanged, diff.new, diff.gone)
        lines.append(f"| {diff.kind} | " + " | ".join(str(n) for n in counts) + " |")
    for diff in result.cases:
        for changes, what in ((diff.degraded, "went wrong"), (diff.improved, "were fixed")):
            if not changes:
                continue
            shown = f"first {SHOWN_CASES} of {len(changes)}" if len(changes) > SHOWN_CASES else f"all {len(changes)}"
            lines += ["", f"<details><summary>{diff.kind} that {what} ({shown})</summary>", ""]
            lines += ["| case | expected | before | after |", "|---|---|---|---|"]
            for change in changes[:SHOWN_CASES]:
                case = change.text if change.text == change.key else f"{change.key}: {change.text}"
                cells = [case[:80] + ("…" if len(case) > 80 else ""), change.expected, change.before, change.after]
                lines.append("| " + " | ".join(md_code(cell, in_table=True) for cell in cells) + " |")
            lines += ["", "</details>"]
    if result.confusion:
        lines += ["", "Predictions that changed, by expected and predicted label:", ""]
        lines += ["| expected | predicted | base | now |", "|---|---|---:|---:|"]
        for expected, predicted, old, new in result.confusion:
            lines.append(
                f"| {md_code(expected, in_table=True)} | {md_code(predicted, in_table=True)} | {old} | {new} |"
            )
    return lines


def case_changes_json(result: GateResult) -> dict[str, Any]:
    """Every changed case, for the file beside the report (the report shows the first few)."""
    return {
        diff.kind: {
            "went_wrong": [vars(change) for change in diff.degraded],
            "were_fixed": [vars(change) for change in diff.improved],
            "unchanged": diff.unchanged,
            "new": diff.new,
            "gone": diff.gone,
        }
        for diff in result.cases
    }


def stage_costs() -> list[dict[str, Any]]:
    """Wall and CPU seconds of each stage as it last ran in this workspace (written by `runner.run_stage`)."""
    if not TIMINGS_DIR.is_dir():
        return []
    return [read_json(path) for path in sorted(TIMINGS_DIR.glob("*.json"))]


def severity(row: Row) -> int:
    return 0 if row.failed else 1 if row.verdict.startswith((WORSE_NOT_REQUIRED, WORSE_NOT_GATED)) else 2


def table(rows: list[Row]) -> list[str]:
    lines = ["| metric | base | current | change | rule | verdict |", "|---|---:|---:|---:|---|---|"]
    for row in rows:
        icon = ("❌", "⚠️", "✅")[severity(row)] if row.rule else ""
        verdict = f"{icon} {row.verdict}".strip()
        rule = row.rule.describe() if row.rule else ""
        values = f"{format_value(row.base)} | {format_value(row.current)} | {row.change}"
        lines.append(f"| {md_code(row.metric, in_table=True)} | {values} | {rule} | {verdict} |")
    return lines


def json_report(result: GateResult) -> dict[str, Any]:
    """The same content for machines: `--json`."""
    return {
        "exit_code": result.exit_code,
        "verdict": {EXIT_PASS: "pass", EXIT_REGRESSION: "regression", EXIT_CANNOT_COMPARE: "cannot compare"}[
            result.exit_code
        ],
        "headline": result.headline,
        "base": result.base,
        "base_commit": result.base_commit,
        "notes": result.notes,
        "metrics": [
            {
                "metric": row.metric,
                "base": row.base,
                "current": row.current,
                "change": row.change,
                "rule": row.rule.describe() if row.rule else None,
                "verdict": row.verdict,
                "failed": row.failed,
            }
            for row in result.rows
        ],
        "changed_params": [{"name": name, "base": old, "current": new} for name, old, new in result.changed_params],
        "promotion_refused": None
        if result.refusal is None
        else {
            "floors": [
                {"metric": name, "achieved": value, "floor": floor, "passed": passed}
                for name, value, floor, passed in result.refusal.rows
            ],
            "must_pass_failed": result.refusal.failed_cases,
        },
        "plots": result.plots,
    }


def one_line(message: str) -> str:
    return " ".join(message.split())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.gate",
        description="Fail when a metric got worse than at the base revision (rules: gate.regression in params.yaml).",
    )
    parser.add_argument("--base", help="revision to compare with (default: the CI base branch, else main)")
    parser.add_argument("--report", metavar="PATH", help="also write the Markdown report to PATH")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of the report")
    parser.add_argument("--print-base", action="store_true", help="print the revision it would compare with, and exit")
    parser.add_argument("--params", default="params.yaml", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = args.base or default_base()
    if args.print_base:
        print(base)
        return EXIT_PASS
    try:
        result = run_gate(base, args.params)
    except GateError as err:
        result = GateResult(EXIT_CANNOT_COMPARE, one_line(f"cannot compare: {err}"), base)
    except Exception as err:  # anything unforeseen still ends as one line, with exit code 2
        if os.environ.get("PIPELINE_DEBUG"):
            raise
        result = GateResult(EXIT_CANNOT_COMPARE, one_line(f"cannot compare: {type(err).__name__}: {err}"), base)
    report = markdown_report(result)
    if args.report:
        write_text(report, args.report)
        if result.cases:
            write_json(case_changes_json(result), Path(args.report).with_name("case-changes.json"))
    if args.json:
        print(json.dumps(json_report(result), indent=2, default=str))
    else:
        print(report)
        print(f"gate: {result.headline}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
