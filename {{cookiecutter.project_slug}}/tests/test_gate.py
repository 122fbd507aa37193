import math

import pytest

from {{ cookiecutter.package_name }}.gate import (
    EXIT_PASS,
    EXIT_REGRESSION,
    GateError,
    GateResult,
    Rule,
    compare_all,
    json_report,
    markdown_report,
    parse_rules,
    rule_for,
)

RULES = parse_rules(
    {
        "classification.accuracy": {"direction": "higher", "abs_tol": 0.01},
        "latency_ms": {"direction": "lower", "rel_tol": 0.10},
        "classification.per_class.*.f1": {"direction": "higher", "abs_tol": 0.05, "required": False},
    }
)
BASE = {"classification.accuracy": 0.90, "latency_ms": 100.0, "classification.per_class.billing.f1": 0.80}


def verdicts(current, base=BASE, rules=RULES):
    return {row.metric: (row.verdict, row.failed) for row in compare_all(base, current, rules)}


def test_within_tolerance_passes_and_beyond_it_fails():
    def accuracy(value):
        return verdicts({**BASE, "classification.accuracy": value})["classification.accuracy"]

    assert accuracy(0.891) == ("within tolerance", False)
    assert accuracy(0.889) == ("regressed", True)
    assert accuracy(0.95) == ("improved", False)
    assert accuracy(0.90) == ("unchanged", False)


def test_lower_is_better_with_a_relative_tolerance():
    assert verdicts({**BASE, "latency_ms": 109.0})["latency_ms"] == ("within tolerance", False)
    assert verdicts({**BASE, "latency_ms": 111.0})["latency_ms"] == ("regressed", True)
    assert verdicts({**BASE, "latency_ms": 50.0})["latency_ms"] == ("improved", False)


def test_a_rule_that_is_not_required_warns_without_failing():
    current = {**BASE, "classification.per_class.billing.f1": 0.5}
    assert verdicts(current)["classification.per_class.billing.f1"] == ("worse (not required)", False)


def test_vanished_and_nan_metrics_fail_when_required():
    current = {"latency_ms": math.nan, "classification.per_class.billing.f1": 0.8}
    result = verdicts(current)
    assert result["classification.accuracy"] == ("vanished", True)
    assert result["latency_ms"] == ("not a number", True)


def test_new_text_and_unruled_metrics_are_reported_only():
    current = {**BASE, "index.note": "rebuilt", "extra.count": 3}
    result = verdicts(current, base={**BASE, "extra.count": 2})
    assert result["index.note"] == ("not a number", False)
    assert result["extra.count"] == ("changed", False)
    assert verdicts(current, base=None)["classification.accuracy"] == ("new", False)


def test_an_exact_name_wins_over_a_pattern():
    rules = parse_rules({"a.*": {"direction": "lower"}, "a.b": {"direction": "higher"}})
    assert rule_for("a.b", rules).direction == "higher"
    assert rule_for("a.c", rules).direction == "lower"
    assert rule_for("b", rules) is None


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"m": {"direction": "up"}}, "gate.regression.m.direction must be one of 'higher', 'lower', got 'up'"),
        ({"m": {"direction": "higher", "abs_tol": -1}}, "gate.regression.m.abs_tol must be a number ≥ 0, got -1"),
        ({"m": {"direction": "higher", "rel_tol": "5%"}}, "gate.regression.m.rel_tol must be a number ≥ 0, got '5%'"),
        ({"m": {"direction": "higher", "required": "yes"}}, "gate.regression.m.required must be true or false"),
        ({"m": {"direction": "higher", "tolerance": 1}}, "gate.regression.m.tolerance is not a known key"),
        ({"m": 0.01}, "gate.regression.m must be a mapping with the keys direction"),
        (["m"], "gate.regression must be a mapping of names to"),
    ],
)
def test_bad_rules_are_refused_with_their_key(rules, message):
    with pytest.raises(GateError, match="gate.regression") as error:
        parse_rules(rules)
    assert message in str(error.value)


def test_a_rule_naming_no_metric_is_refused():
    with pytest.raises(GateError, match="names no metric"):
        compare_all(BASE, BASE, [Rule("classification.acuracy", "higher")])


def test_report_puts_the_verdict_first_and_failures_on_top():
    rows = compare_all(BASE, {**BASE, "classification.accuracy": 0.80, "extra": 1}, RULES)
    result = GateResult(EXIT_REGRESSION, "regression against main: classification.accuracy", "main", "abc1234", rows)
    lines = markdown_report(result).splitlines()
    assert lines[1] == "## ❌ Regression gate: failed against `main`"
    assert lines.index("| metric | base | current | change | rule | verdict |") < len(lines)
    first_row = next(line for line in lines if line.startswith("| `"))
    assert first_row.startswith("| `classification.accuracy` | 0.9000 | 0.8000 | -0.1000 (-11.1%) |")
    assert first_row.endswith("❌ regressed |")
    assert json_report(GateResult(EXIT_PASS, "pass", "main"))["verdict"] == "pass"
