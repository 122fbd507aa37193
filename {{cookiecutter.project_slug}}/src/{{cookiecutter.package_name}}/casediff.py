"""Which test cases a change fixed and which it broke, and pictures of both revisions, for the gate's report.

`evaluate` writes one row per case, committed to git like the metrics:
`metrics/evaluate/cases/tickets.csv` (each test ticket: expected, predicted,
confidence), `metrics/evaluate/cases/queries.csv` (each golden query: the rank of
its article, the top hit) and `metrics/evaluate/must_pass.json`. `case_diffs`
compares the workspace's with those at another commit: a ticket or a must-pass
case goes from right to wrong or back; a query's article moves up or down the
ranking. `mermaid_charts` draws recall@k and F1 per class of both revisions as
Mermaid charts, which GitHub and GitLab render inside Markdown.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICKETS = "metrics/evaluate/cases/tickets.csv"
QUERIES = "metrics/evaluate/cases/queries.csv"
MUST_PASS = "metrics/evaluate/must_pass.json"
TEST_SPLIT = "data/split/test.csv"
RECALL_PLOT = "metrics/evaluate/plots/custom/recall_at_k.json"
F1_PLOT = "metrics/evaluate/plots/custom/per_class_f1.json"


@dataclass(frozen=True)
class CaseChange:
    """One case whose outcome changed. `before`/`after` are labels, ranks or pass/fail, as text."""

    key: str
    text: str
    expected: str
    before: str
    after: str


@dataclass
class CaseDiff:
    """The cases of one kind (tickets, golden queries, must-pass) compared between two revisions."""

    kind: str
    degraded: list[CaseChange] = field(default_factory=list)
    improved: list[CaseChange] = field(default_factory=list)
    unchanged: int = 0
    new: int = 0
    gone: int = 0


def read_at(commit: str | None, path: str) -> str | None:
    """The text of `path` at `commit` (the workspace when None); None when it does not exist there."""
    if commit is None:
        file = Path(path)
        return file.read_text(encoding="utf-8") if file.is_file() else None
    shown = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True, encoding="utf-8")
    return shown.stdout if shown.returncode == 0 else None


def csv_rows(text: str | None, key: str) -> dict[str, dict[str, str]]:
    return {row[key]: row for row in csv.DictReader(io.StringIO(text))} if text else {}


def compare(
    kind: str,
    base: dict[str, Any],
    current: dict[str, Any],
    outcome,
    better,
    describe,
) -> CaseDiff:
    """Cases keyed alike on both sides: `outcome(case)` is what changed, `better(before, after)` its direction."""
    diff = CaseDiff(kind, new=len(current.keys() - base.keys()), gone=len(base.keys() - current.keys()))
    for key in sorted(base.keys() & current.keys()):
        before, after = outcome(base[key]), outcome(current[key])
        if before == after:
            diff.unchanged += 1
            continue
        change = describe(key, base[key], current[key])
        (diff.improved if better(before, after) else diff.degraded).append(change)
    return diff


def ticket_diff(base_text: str, current_text: str, texts: dict[str, str]) -> CaseDiff:
    def right(case: dict[str, str]) -> bool:
        return case["predicted"] == case["expected"]

    def describe(key: str, old: dict[str, str], new: dict[str, str]) -> CaseChange:
        return CaseChange(key, texts.get(key, ""), new["expected"], old["predicted"], new["predicted"])

    base, current = csv_rows(base_text, "id"), csv_rows(current_text, "id")
    return compare("test tickets", base, current, right, lambda before, after: after, describe)


def query_diff(base_text: str, current_text: str) -> CaseDiff:
    def rank(case: dict[str, str]) -> int:
        found = int(case["rank"])
        return found if found > 0 else 10**9  # not in the list: below every rank

    def shown(case: dict[str, str]) -> str:
        return "not found" if case["rank"] == "0" else case["rank"]

    def describe(key: str, old: dict[str, str], new: dict[str, str]) -> CaseChange:
        return CaseChange(key, key, new["expected"], shown(old), shown(new))

    base, current = csv_rows(base_text, "query"), csv_rows(current_text, "query")
    return compare("golden queries", base, current, rank, lambda before, after: after < before, describe)


def must_pass_diff(base_text: str, current_text: str) -> CaseDiff:
    def cases(text: str) -> dict[str, dict[str, Any]]:
        return {case["text"]: case for case in json.loads(text)}

    def describe(key: str, old: dict[str, Any], new: dict[str, Any]) -> CaseChange:
        return CaseChange(key, key, new["expected"], old["predicted"], new["predicted"])

    return compare(
        "must-pass tickets",
        cases(base_text),
        cases(current_text),
        lambda case: bool(case["passed"]),
        lambda before, after: after,
        describe,
    )


def case_diffs(commit: str, current: str | None = None) -> list[CaseDiff]:
    """Tickets, golden queries and must-pass cases of `current` (the workspace when None) against `commit`.

    Kinds that either side lacks are left out. Ticket texts come from the workspace's test split.
    """
    diffs = []
    tickets = read_at(commit, TICKETS), read_at(current, TICKETS)
    if all(tickets):
        texts = {row["id"]: row.get("text", "") for row in csv_rows(read_at(None, TEST_SPLIT), "id").values()}
        diffs.append(ticket_diff(*tickets, texts))
    queries = read_at(commit, QUERIES), read_at(current, QUERIES)
    if all(queries):
        diffs.append(query_diff(*queries))
    must_pass = read_at(commit, MUST_PASS), read_at(current, MUST_PASS)
    if all(must_pass):
        diffs.append(must_pass_diff(*must_pass))
    return diffs


def confusion_changes(base_text: str | None, current_text: str | None) -> list[tuple[str, str, int, int]]:
    """(expected, predicted, count at base, count now) for every pair of labels whose count changed."""
    counts: dict[tuple[str, str], list[int]] = {}
    for side, text in enumerate((base_text, current_text)):
        for case in csv_rows(text, "id").values():
            counts.setdefault((case["expected"], case["predicted"]), [0, 0])[side] += 1
    return [
        (expected, predicted, old, new) for (expected, predicted), (old, new) in sorted(counts.items()) if old != new
    ]


# Mermaid: labels come from the data, so only plain characters reach a chart (a quote or a
# backtick could end the label or the code block).
MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9 _.\-]")


def mermaid_label(value: Any) -> str:
    return '"' + (MERMAID_UNSAFE.sub("_", " ".join(str(value).split()))[:40] or "_") + '"'


def number(value: Any) -> str:
    return f"{float(value):.4f}"


def plot_points(commit: str | None, path: str, x: str, y: str) -> dict[str, float] | None:
    """`{x: y}` of a dvclive plot file at `commit` (the workspace when None)."""
    text = read_at(commit, path)
    if not text:
        return None
    data = json.loads(text)
    rows = next(iter(data.values())) if isinstance(data, dict) else data
    return {str(row[x]): float(row[y]) for row in rows}


def mermaid_charts(commit: str, base_name: str) -> list[str]:
    """Markdown lines: recall@k and F1 per class, base against this change, as Mermaid xy-charts."""
    lines: list[str] = []
    charts = (
        ("Retrieval recall@k", RECALL_PLOT, "k", "recall", "line"),
        ("F1 per class", F1_PLOT, "label", "f1", "bar"),
    )
    for title, path, x, y, mark in charts:
        base, current = plot_points(commit, path, x, y), plot_points(None, path, x, y)
        if not base or not current:
            continue
        keys = [key for key in current if key in base]
        if not keys:
            continue
        axis = ", ".join(mermaid_label(key) for key in keys)
        lines += [
            "",
            f"**{title}**: first {mark}s {base_name}, second {mark}s this change",
            "",
            "```mermaid",
            "xychart-beta",
            f"    title {mermaid_label(title)}",
            f"    x-axis {mermaid_label(x)} [{axis}]",
            f"    y-axis {mermaid_label(y)} 0 --> 1",
            f"    {mark} [{', '.join(number(base[key]) for key in keys)}]",
            f"    {mark} [{', '.join(number(current[key]) for key in keys)}]",
            "```",
        ]
    return lines
