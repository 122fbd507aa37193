"""Judge a candidate model set on real traffic: `decide` reads the decision log, `replay` makes traffic.

``python -m {{ cookiecutter.package_name }}.rollout decide --log FILE [--labels FILE]``
(``make decide``) compares the candidate with production on the requests of a
decision log that the service wrote in canary or shadow mode (``traffic.py``):

- error rate and p95 latency of each side;
- quality: accuracy on the requests whose true label came back (``--labels``, a
  CSV of ``request_id,label``) once both sides have ``rollout.min_labelled`` of
  them; otherwise the agreement of the candidate's labels with production's on
  shadow traffic (both sides answered the same ticket);
- searches: the mean share of production's top-k articles the candidate also
  returns (shadow traffic).

The rules are the ``rollout`` section of params.yaml. It prints a Markdown report
(``--report`` also writes it) and exits 0 to promote, 1 to roll back, 2 when the
log holds too few candidate answers, or no way to compare quality, to decide.

``python -m {{ cookiecutter.package_name }}.rollout replay --url URL --from data/split/test.csv``
(``make replay``) sends recorded or test tickets to a running service, bounded in
count (``--limit``) and time (``--max-seconds``), each with its ticket id as
``X-Request-ID`` (so a canary sends the same ticket to the same side, and labels
join), and can write the labels it knows for ``decide --labels``.
Standard library only, besides the project's own helpers.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .runner import StageError

PROMOTE, ROLL_BACK, NOT_ENOUGH_DATA = 0, 1, 2
SIDES = ("production", "candidate")


class RolloutError(StageError):
    """A decision log, a labels file or a service cannot be read; the message says which and why."""


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a decision log (JSON lines; rotated files ``FILE.1``... are read first, oldest first)."""
    path = Path(path)
    rotated = sorted(path.parent.glob(f"{path.name}.[0-9]*"), key=lambda p: -int(p.suffix[1:]))
    if not path.is_file() and not rotated:
        raise RolloutError(f"{path} not found: is DECISION_LOG set on the service?")
    records = []
    for part in [*rotated, path] if path.is_file() else rotated:
        with open(part, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise RolloutError(f"{part}:{number} is not a JSON line") from None
                if isinstance(record, dict):
                    records.append(record)
    return records


def read_labels(path: str | os.PathLike) -> dict[str, str]:
    """request id -> true label, from a CSV with ``request_id`` (or ``id``) and ``label`` columns."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as err:
        raise RolloutError(f"cannot read {path}: {err.strerror}") from None
    key = "request_id" if rows and "request_id" in rows[0] else "id"
    if rows and (key not in rows[0] or "label" not in rows[0]):
        raise RolloutError(f"{path} needs the columns request_id (or id) and label")
    return {row[key]: row["label"] for row in rows if row.get(key) and row.get("label")}


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile (nearest rank): the value that 95 % of requests did not exceed."""
    if not values:
        return None
    ranked = sorted(values)
    return ranked[max(0, math.ceil(0.95 * len(ranked)) - 1)]


@dataclass
class Side:
    """What one side (production or candidate) did on the log's traffic."""

    version: str | None = None
    answered: int = 0
    errors: int = 0
    skipped: int = 0
    latencies: list[float] = field(default_factory=list)
    correct: int = 0
    labelled: int = 0

    @property
    def requests(self) -> int:
        return self.answered + self.errors

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None


@dataclass
class Comparison:
    sides: dict[str, Side]
    compared_labels: int = 0
    agreeing_labels: int = 0
    overlaps: list[float] = field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        return self.agreeing_labels / self.compared_labels if self.compared_labels else None

    @property
    def search_overlap(self) -> float | None:
        return sum(self.overlaps) / len(self.overlaps) if self.overlaps else None


def newest_version(records: list[dict[str, Any]], side: str) -> str | None:
    """The version of `side` in the latest record that has one: after a reload, only the new one is judged."""
    for record in reversed(records):
        version = (record.get(side) or {}).get("version")
        if version:
            return version
    return None


def compare(records: Iterable[dict[str, Any]], labels: dict[str, str] | None = None) -> Comparison:
    """Tally both sides on the same requests: answers, errors, latencies, agreement, overlap, accuracy."""
    records = list(records)
    sides = {side: Side(version=newest_version(records, side)) for side in SIDES}
    result = Comparison(sides)
    for record in records:
        answers = {}
        for name, side in sides.items():
            entry = record.get(name)
            if not entry or entry.get("version") != side.version:
                continue
            if entry.get("skipped"):
                side.skipped += 1
            elif entry.get("error"):
                side.errors += 1
            else:
                side.answered += 1
                side.latencies.append(float(entry.get("latency_ms", 0.0)))
                answers[name] = entry.get("answer") or {}
        truth = (labels or {}).get(record.get("request_id", ""))
        for name, answer in answers.items():
            predicted = answer.get("labels") or []
            if truth is not None and len(predicted) == 1:
                sides[name].labelled += 1
                sides[name].correct += predicted[0] == truth
        if len(answers) == 2:
            production, candidate = answers["production"], answers["candidate"]
            if "labels" in production and "labels" in candidate:
                pairs = list(zip(production["labels"], candidate["labels"], strict=False))
                result.compared_labels += len(pairs)
                result.agreeing_labels += sum(a == b for a, b in pairs)
            if production.get("ids"):
                shared = set(production["ids"]) & set(candidate.get("ids") or [])
                result.overlaps.append(len(shared) / len(production["ids"]))
    return result


@dataclass
class Check:
    name: str
    production: float | None
    candidate: float | None
    rule: str
    passed: bool


def decide(comparison: Comparison, rules: dict[str, Any]) -> tuple[int, str, list[Check]]:
    """The decision (0 promote, 1 roll back, 2 not enough data), its reason, and every check made."""
    production, candidate = comparison.sides["production"], comparison.sides["candidate"]
    if candidate.requests < rules["min_requests"]:
        reason = f"not enough data: {candidate.requests} candidate answers, at least {rules['min_requests']} needed"
        return NOT_ENOUGH_DATA, reason, []
    if not production.requests:
        return NOT_ENOUGH_DATA, "not enough data: no production answers to compare with", []
    checks = [
        Check(
            "error rate",
            production.error_rate,
            candidate.error_rate,
            f"candidate ≤ {rules['max_error_rate']}",
            candidate.error_rate <= rules["max_error_rate"],
        )
    ]
    prod_p95, cand_p95 = p95(production.latencies), p95(candidate.latencies)
    if prod_p95 and cand_p95 is not None:
        limit = rules["max_latency_ratio"] * prod_p95
        checks.append(
            Check(
                "latency p95 (ms)",
                prod_p95,
                cand_p95,
                f"candidate ≤ {rules['max_latency_ratio']} × production",
                cand_p95 <= limit,
            )
        )
    if min(production.labelled, candidate.labelled) >= rules["min_labelled"]:
        floor = production.accuracy - rules["max_accuracy_drop"]
        checks.append(
            Check(
                "accuracy (feedback labels)",
                production.accuracy,
                candidate.accuracy,
                f"candidate ≥ production − {rules['max_accuracy_drop']}",
                candidate.accuracy >= floor - 1e-12,
            )
        )
    elif comparison.agreement is not None:
        checks.append(
            Check(
                "label agreement with production",
                None,
                comparison.agreement,
                f"≥ {rules['min_agreement']}",
                comparison.agreement >= rules["min_agreement"],
            )
        )
    else:
        reason = (
            "not enough data: no quality comparison (shadow traffic for agreement, "
            f"or --labels with at least {rules['min_labelled']} labelled answers per side)"
        )
        return NOT_ENOUGH_DATA, reason, checks
    if comparison.search_overlap is not None:
        checks.append(
            Check(
                "search top-k overlap",
                None,
                comparison.search_overlap,
                f"≥ {rules['min_search_overlap']}",
                comparison.search_overlap >= rules["min_search_overlap"],
            )
        )
    failed = [check.name for check in checks if not check.passed]
    if failed:
        return ROLL_BACK, f"roll back: {', '.join(failed)} outside the rules", checks
    return PROMOTE, "promote: every rule holds", checks


def report(code: int, reason: str, checks: list[Check], comparison: Comparison) -> str:
    """The decision as Markdown; versions come from the log and are escaped."""
    from .gate import md_code

    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.4f}"

    production, candidate = comparison.sides["production"], comparison.sides["candidate"]
    verdict = {PROMOTE: "PROMOTE", ROLL_BACK: "ROLL BACK", NOT_ENOUGH_DATA: "NOT ENOUGH DATA"}[code]
    lines = [
        f"## Rollout decision: {verdict}",
        "",
        f"{reason} (exit {code}).",
        "",
        f"- production {md_code(production.version or '?')}: {production.requests} answers, {production.errors} errors",
        f"- candidate {md_code(candidate.version or '?')}: {candidate.requests} answers, {candidate.errors} errors"
        + (f", {candidate.skipped} shadow calls skipped (queue full)" if candidate.skipped else ""),
        f"- compared labels: {comparison.compared_labels}; compared searches: {len(comparison.overlaps)}; "
        f"labelled answers: production {production.labelled}, candidate {candidate.labelled}",
        "",
    ]
    if checks:
        lines += ["| Check | Production | Candidate | Rule | Result |", "|---|---:|---:|---|---|"]
        for check in checks:
            result = "pass" if check.passed else "FAIL"
            lines.append(
                f"| {check.name} | {cell(check.production)} | {cell(check.candidate)} | {check.rule} | {result} |"
            )
    return "\n".join(lines) + "\n"


def run_decide(log: Path, labels: Path | None, report_path: Path | None, params: str) -> int:
    from .io import write_text
    from .params import load_params

    rules = load_params(params).get("rollout")
    if rules is None:
        raise RolloutError(f"{params} has no `rollout` section")
    comparison = compare(read_log(log), read_labels(labels) if labels else None)
    code, reason, checks = decide(comparison, rules)
    text = report(code, reason, checks, comparison)
    print(text, end="")
    if report_path:
        write_text(text, report_path)
    return code


# --- replay -----------------------------------------------------------------------------------------


def post(url: str, body: dict[str, Any], request_id: str, timeout: float) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Request-ID": request_id}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, {}
    except (OSError, ValueError):
        return 0, {}


def replay(
    url: str,
    tickets: list[dict[str, str]],
    max_seconds: float,
    concurrency: int,
    search: bool,
    timeout: float = 10,
) -> Counter:
    """Send each ticket to /predict (and /search) with its id as X-Request-ID, until done or out of time."""
    base = url.rstrip("/")
    deadline = time.monotonic() + max_seconds
    tally: Counter = Counter()

    def send(ticket: dict[str, str]) -> None:
        if time.monotonic() > deadline:
            tally["not sent (time limit)"] += 1
            return
        calls = [("/predict", {"text": ticket["text"]})]
        if search:
            calls.append(("/search", {"query": ticket["text"], "k": 5}))
        for path, body in calls:
            status, answer = post(base + path, body, ticket["id"], timeout)
            tally[f"{path} {status or 'no answer'}"] += 1
            if answer.get("served_by"):
                tally[f"served by {answer['served_by']}"] += 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, tickets))
    return tally


def load_tickets(path: Path, limit: int) -> list[dict[str, str]]:
    from .io import read_csv

    frame = read_csv(path)
    if "text" not in frame.columns:
        raise RolloutError(f"{path} has no text column")
    if "id" not in frame.columns:
        frame["id"] = [f"replay-{i}" for i in range(len(frame))]
    frame = frame.head(limit).fillna("")
    return frame.astype(str).to_dict("records")


def run_replay(args: argparse.Namespace) -> int:
    tickets = load_tickets(args.source, args.limit)
    if args.labels_out:
        from .io import write_text

        known = [t for t in tickets if t.get("label")]
        write_text("request_id,label\n" + "".join(f"{t['id']},{t['label']}\n" for t in known), args.labels_out)
    start = time.monotonic()
    tally = replay(args.url, tickets, args.max_seconds, args.concurrency, args.search)
    took = time.monotonic() - start
    print(f"replay: {len(tickets)} tickets to {args.url} in {took:.1f} s")
    for key, count in sorted(tally.items()):
        print(f"  {key}: {count}")
    answered = sum(count for key, count in tally.items() if key.startswith("/") and key.endswith(" 200"))
    return 0 if answered else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.rollout", description="Judge a candidate on real traffic."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    dec = commands.add_parser("decide", help="promote (0), roll back (1) or wait for data (2), from a decision log")
    dec.add_argument("--log", required=True, type=Path, help="the service's DECISION_LOG")
    dec.add_argument("--labels", type=Path, help="CSV of request_id,label: feedback for accuracy")
    dec.add_argument("--report", type=Path, help="also write the Markdown report here")
    dec.add_argument("--params", default="params.yaml")
    rep = commands.add_parser("replay", help="send tickets from a CSV to a running service, bounded")
    rep.add_argument("--url", required=True)
    rep.add_argument("--from", dest="source", required=True, type=Path, help="a CSV with id and text (and label)")
    rep.add_argument("--limit", type=int, default=400, help="tickets sent at most (default 400)")
    rep.add_argument("--max-seconds", type=float, default=120, help="stop sending after this time (default 120)")
    rep.add_argument("--concurrency", type=int, default=4)
    rep.add_argument("--search", action="store_true", help="also send each ticket's text to /search")
    rep.add_argument("--labels-out", type=Path, help="write the tickets' labels as request_id,label for decide")
    args = parser.parse_args(argv)
    if args.command == "replay" and (args.limit < 1 or args.max_seconds <= 0 or args.concurrency < 1):
        parser.error("--limit, --max-seconds and --concurrency must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "decide":
            return run_decide(args.log, args.labels, args.report, args.params)
        return run_replay(args)
    except StageError as err:
        if os.environ.get("PIPELINE_DEBUG"):
            raise
        print(f"rollout: {err}", file=sys.stderr)
        return 3 if args.command == "decide" else 1


if __name__ == "__main__":
    sys.exit(main())
