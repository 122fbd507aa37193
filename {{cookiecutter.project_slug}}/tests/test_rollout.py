"""`rollout decide` on decision logs: promote (0), roll back (1), not enough data (2); and `replay`'s bounds."""

import json
import socket
from contextlib import closing
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.rollout import (
    NOT_ENOUGH_DATA,
    PROMOTE,
    ROLL_BACK,
    RolloutError,
    compare,
    decide,
    main,
    p95,
    parse_args,
    read_labels,
    report,
)

RULES = {
    "min_requests": 10,
    "min_agreement": 0.9,
    "min_search_overlap": 0.7,
    "min_labelled": 5,
    "max_accuracy_drop": 0.1,
    "max_error_rate": 0.1,
    "max_latency_ratio": 1.5,
}


def record(i, production=None, candidate=None, endpoint="/predict", served_by="production"):
    entry = {"request_id": f"T{i}", "endpoint": endpoint, "served_by": served_by}
    for name, side in (("production", production), ("candidate", candidate)):
        if side is not None:
            entry[name] = side
    return entry


def said(version, labels=None, ids=None, latency=10.0, error=None):
    if error:
        return {"version": version, "latency_ms": latency, "error": error}
    answer = {"labels": labels} if labels is not None else {"ids": ids}
    return {"version": version, "latency_ms": latency, "answer": answer}


def shadow_log(n, disagree_every=0, candidate_latency=10.0):
    """n shadow records; the candidate disagrees on every `disagree_every`-th ticket (0: never)."""
    records = []
    for i in range(n):
        other = disagree_every and i % disagree_every == 0
        candidate = said("c1", ["shipping" if other else "billing"], latency=candidate_latency)
        records.append(record(i, said("p1", ["billing"]), candidate))
    return records


def test_a_clearly_worse_candidate_is_rolled_back():
    code, reason, checks = decide(compare(shadow_log(40, disagree_every=2)), RULES)
    assert code == ROLL_BACK and reason == "roll back: label agreement with production outside the rules"
    assert [c.passed for c in checks] == [True, True, False]
    assert checks[2].candidate == 0.5


def test_an_equal_candidate_is_promoted():
    code, reason, checks = decide(compare(shadow_log(40)), RULES)
    assert (code, reason) == (PROMOTE, "promote: every rule holds")
    assert [(c.name, c.candidate) for c in checks] == [
        ("error rate", 0.0),
        ("latency p95 (ms)", 10.0),
        ("label agreement with production", 1.0),
    ]


def test_too_small_a_sample_is_not_enough_data():
    code, reason, checks = decide(compare(shadow_log(9)), RULES)
    assert code == NOT_ENOUGH_DATA and checks == []
    assert reason == "not enough data: 9 candidate answers, at least 10 needed"
    assert decide(compare(shadow_log(10)), RULES)[0] == PROMOTE


def test_agreement_boundary_is_inclusive():
    assert decide(compare(shadow_log(40, disagree_every=10)), RULES)[0] == PROMOTE  # exactly 0.9
    assert decide(compare(shadow_log(40, disagree_every=9)), RULES)[0] == ROLL_BACK  # 35/40 = 0.875


def test_latency_ratio_boundary():
    assert decide(compare(shadow_log(20, candidate_latency=15.0)), RULES)[0] == PROMOTE  # exactly 1.5 x
    code, reason, _ = decide(compare(shadow_log(20, candidate_latency=15.1)), RULES)
    assert code == ROLL_BACK and reason == "roll back: latency p95 (ms) outside the rules"


def test_candidate_errors_above_the_rate_roll_back():
    records = shadow_log(20)
    for i in range(3):  # 3 of 20 = 0.15
        records[i]["candidate"] = said("c1", error="RuntimeError: boom")
    code, _, checks = decide(compare(records), RULES)
    assert code == ROLL_BACK and checks[0].candidate == pytest.approx(0.15) and not checks[0].passed
    records[2] = record(2, said("p1", ["billing"]), said("c1", ["billing"]))  # 2 of 20 = 0.1: allowed
    assert decide(compare(records), RULES)[0] == PROMOTE


def canary_log(n, candidate_correct, production_correct, truth="billing"):
    """Canary: alternate sides; each side right on the first `*_correct` of its tickets."""
    records, seen = [], {"production": 0, "candidate": 0}
    for i in range(n):
        side = "candidate" if i % 2 else "production"
        right = seen[side] < (candidate_correct if side == "candidate" else production_correct)
        seen[side] += 1
        entry = said("c1" if side == "candidate" else "p1", [truth if right else "shipping"])
        records.append(record(i, **{side: entry}, served_by=side))
    return records


def test_canary_without_labels_cannot_judge_quality():
    code, reason, checks = decide(compare(canary_log(40, 20, 20)), RULES)
    assert code == NOT_ENOUGH_DATA and reason.startswith("not enough data: no quality comparison")
    assert [c.name for c in checks] == ["error rate", "latency p95 (ms)"]


def test_feedback_labels_decide_by_accuracy():
    labels = {f"T{i}": "billing" for i in range(40)}
    code, _, checks = decide(compare(canary_log(40, 18, 20), labels), RULES)  # 0.9 vs 1.0: a drop of 0.1
    assert code == PROMOTE and (checks[-1].production, checks[-1].candidate) == (1.0, 0.9)
    code, reason, _ = decide(compare(canary_log(40, 17, 20), labels), RULES)  # 0.85 vs 1.0
    assert code == ROLL_BACK and reason == "roll back: accuracy (feedback labels) outside the rules"
    few = {f"T{i}": "billing" for i in range(9)}  # 4 labelled candidate answers < min_labelled
    assert decide(compare(canary_log(40, 18, 20), few), RULES)[0] == NOT_ENOUGH_DATA


def test_search_overlap_is_checked_on_shadow_searches():
    records = shadow_log(20)
    for i in range(10):
        production = said("p1", ids=["a", "b", "c", "d", "e"])
        candidate = said("c1", ids=["a", "b", "c", "x", "y"] if i % 2 else ["a", "b", "c", "d", "e"])
        records.append(record(100 + i, production, candidate, endpoint="/search"))
    comparison = compare(records)
    assert comparison.search_overlap == pytest.approx(0.8) and len(comparison.overlaps) == 10
    assert decide(comparison, RULES)[0] == PROMOTE
    assert decide(comparison, {**RULES, "min_search_overlap": 0.81})[0] == ROLL_BACK
    assert decide(comparison, {**RULES, "min_search_overlap": comparison.search_overlap})[0] == PROMOTE  # inclusive


def test_only_the_newest_versions_are_judged_after_a_reload():
    old = [record(i, said("p0", ["billing"]), said("c0", ["shipping"])) for i in range(50)]
    comparison = compare(old + shadow_log(12))
    assert comparison.sides["candidate"].version == "c1" and comparison.sides["candidate"].requests == 12
    assert comparison.agreement == 1.0


def test_skipped_shadows_are_counted_apart():
    records = shadow_log(12) + [record(99, said("p1", ["billing"]), {"version": "c1", "skipped": True})]
    comparison = compare(records)
    assert comparison.sides["candidate"].skipped == 1 and comparison.sides["candidate"].requests == 12
    assert "1 shadow calls skipped" in report(*decide(comparison, RULES), comparison)


def test_p95_nearest_rank():
    assert p95([]) is None and p95([7.0]) == 7.0
    assert p95([float(v) for v in range(1, 101)]) == 95.0
    assert p95([float(v) for v in range(1, 21)]) == 19.0


def test_report_escapes_versions_from_the_log():
    records = [record(i, said("p1", ["billing"]), said("`c1|<b>`", ["billing"])) for i in range(12)]
    text = report(*decide(compare(records), RULES), compare(records))
    assert text.startswith("## Rollout decision: PROMOTE\n")
    assert "candidate `` `c1|<b>` ``" in text
    assert "| label agreement with production | – | 1.0000 | ≥ 0.9 | pass |" in text


def test_read_labels_accepts_request_id_or_id(tmp_path):
    (tmp_path / "a.csv").write_text("request_id,label\nT1,billing\nT2,\n")
    (tmp_path / "b.csv").write_text("id,label,text\nT3,shipping,hello\n")
    (tmp_path / "c.csv").write_text("ticket,label\nT3,shipping\n")
    assert read_labels(tmp_path / "a.csv") == {"T1": "billing"}
    assert read_labels(tmp_path / "b.csv") == {"T3": "shipping"}
    with pytest.raises(RolloutError, match="needs the columns request_id"):
        read_labels(tmp_path / "c.csv")


def test_decide_command_exit_codes_and_report(tmp_path, capsys):
    params = "params.yaml"  # the project's own rules: min_requests 200
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in shadow_log(250, disagree_every=2)))
    out = tmp_path / "report.md"
    assert main(["decide", "--log", str(log), "--params", params, "--report", str(out)]) == ROLL_BACK
    assert out.read_text() == capsys.readouterr().out and "ROLL BACK" in out.read_text()
    log.write_text("".join(json.dumps(r) + "\n" for r in shadow_log(250)))
    assert main(["decide", "--log", str(log), "--params", params]) == PROMOTE
    log.write_text("".join(json.dumps(r) + "\n" for r in shadow_log(20)))
    assert main(["decide", "--log", str(log), "--params", params]) == NOT_ENOUGH_DATA
    assert main(["decide", "--log", str(tmp_path / "none.jsonl"), "--params", params]) == 3
    assert "none.jsonl not found" in capsys.readouterr().err
    log.write_text('{"request_id": "T1"}\nnot json\n')
    assert main(["decide", "--log", str(log), "--params", params]) == 3
    assert "decisions.jsonl:2 is not a JSON line" in capsys.readouterr().err


def test_replay_is_bounded_and_writes_the_labels(tmp_path, capsys):
    with closing(socket.socket()) as probe:  # a port nothing listens on: every call fails fast
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    tickets = tmp_path / "tickets.csv"
    tickets.write_text("id,text,label\n" + "".join(f"T{i},ticket {i},billing\n" for i in range(30)))
    labels = tmp_path / "labels.csv"
    code = main(["replay", "--url", url, "--from", str(tickets), "--limit", "12", "--labels-out", str(labels)])
    assert code == 1
    assert labels.read_text().splitlines() == ["request_id,label"] + [f"T{i},billing" for i in range(12)]
    assert "/predict no answer: 12" in capsys.readouterr().out


ROLLOUT_HELP = {
    (): [
        "usage: python -m {{ cookiecutter.package_name }}.rollout [-h] {decide,replay} ...",
        "Judge a candidate on real traffic.",
        "decide promote (0), roll back (1) or wait for data (2), from a decision log",
        "replay send tickets from a CSV to a running service, bounded",
    ],
    ("decide",): [
        "usage: python -m {{ cookiecutter.package_name }}.rollout decide [-h] --log LOG [--labels LABELS] [--report REPORT] "
        "[--params PARAMS]",
        "--log LOG the service's DECISION_LOG",
        "--labels LABELS CSV of request_id,label: feedback for accuracy",
        "--report REPORT also write the Markdown report here",
    ],
    ("replay",): [
        "usage: python -m {{ cookiecutter.package_name }}.rollout replay [-h] --url URL --from SOURCE [--limit LIMIT] "
        "[--max-seconds MAX_SECONDS] [--concurrency CONCURRENCY] [--search] [--labels-out LABELS_OUT]",
        "--from SOURCE a CSV with id and text (and label)",
        "--limit LIMIT tickets sent at most (default 400)",
        "stop sending after this time (default 120)",
        "--search also send each ticket's text to /search",
        "write the tickets' labels as request_id,label for decide",
    ],
}


@pytest.mark.parametrize("command", list(ROLLOUT_HELP), ids=lambda c: c[0] if c else "rollout")
def test_the_help_of_each_command_says_what_it_does(command, help_lines):
    shown = help_lines(parse_args, command)
    assert [line for line in ROLLOUT_HELP[command] if line not in shown] == []


def test_the_commands_defaults_and_bounds(capsys):
    args = parse_args(["decide", "--log", "d.jsonl"])
    assert (args.log, args.labels, args.report, args.params) == (Path("d.jsonl"), None, None, "params.yaml")
    args = parse_args(["replay", "--url", "http://127.0.0.1:1", "--from", "t.csv"])
    assert (args.source, args.limit, args.max_seconds, args.concurrency, args.search, args.labels_out) == (
        Path("t.csv"),
        400,
        120.0,
        4,
        False,
        None,
    )
    for bad in (["--limit", "0"], ["--max-seconds", "0"], ["--concurrency", "0"]):
        with pytest.raises(SystemExit):
            parse_args(["replay", "--url", "u", "--from", "t.csv", *bad])
        assert capsys.readouterr().err.endswith("error: --limit, --max-seconds and --concurrency must be positive\n")
    assert parse_args(["replay", "--url", "u", "--from", "t.csv", "--max-seconds", "0.5"]).max_seconds == 0.5
