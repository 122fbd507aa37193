import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.gate import (
    EXIT_REGRESSION,
    GateResult,
    compare_all,
    markdown_report,
    parse_rules,
    ungate_small_slices,
)
from {{ cookiecutter.package_name }}.metrics import dimension_of, support_of
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.slices import (
    check_columns,
    length_buckets,
    plot_rows,
    query_slices,
    slice_key,
    ticket_slices,
)
from {{ cookiecutter.package_name }}.stages.promote import check_thresholds, decide, split_small_slices


def test_length_buckets_are_strict_at_both_bounds():
    texts = ["one two", "one two three", "a b c d e", "a b c d e f"]
    assert length_buckets(texts, short=3, long=5) == ["very_short", "typical", "typical", "very_long"]


@pytest.mark.parametrize(
    ("value", "key"),
    [("chat", "chat"), ("a/b.c", "a_b_c"), ("  two  words ", "two_words"), ("", "missing"), (None, "missing")],
)
def test_a_slice_value_becomes_one_level_of_a_metric_name(value, key):
    assert slice_key(value) == key
    assert slice_key(float("nan")) == "missing"


def test_ticket_slices_count_and_score_each_value():
    test = pd.DataFrame(
        {
            "text": ["w " * 2, "w " * 6, "w " * 6, "w " * 20, "w " * 6],
            "label": ["a", "a", "b", "b", "b"],
            "channel": ["chat", "chat", "email", "email", "email"],
        }
    )
    slices = ticket_slices(test, ["a", "b", "b", "a", "b"], ["channel"], short=3, long=10)
    assert slices["channel"] == {
        "chat": {"accuracy": 0.5, "macro_f1": pytest.approx(1 / 3, abs=1e-6), "support": 2},
        "email": {"accuracy": pytest.approx(2 / 3, abs=1e-6), "macro_f1": 0.4, "support": 3},
    }
    assert {value: scores["support"] for value, scores in slices["length"].items()} == {
        "typical": 3,
        "very_long": 1,
        "very_short": 1,
    }
    assert slices["length"]["very_short"]["accuracy"] == 1.0 and slices["length"]["very_long"]["accuracy"] == 0.0


def test_query_slices_score_answerable_queries_and_count_all():
    queries = pd.DataFrame(
        {
            "query": ["q one", "q two", "q three", "q four words here"],
            "kb_id": ["KB1", "KB2", None, "KB1"],
            "slice": ["billing", "billing", "out_of_scope", "billing"],
        }
    )
    ranked = [["KB1", "KB2"], ["KB1", "KB2"], ["KB1", "KB2"], ["KB3", "KB4"]]
    slices = query_slices(queries, ranked, [1, 2], short=3, long=3)
    assert slices["slice"]["billing"] == {
        "support": 3,
        "recall_at_1": pytest.approx(1 / 3, abs=1e-6),
        "recall_at_2": pytest.approx(2 / 3, abs=1e-6),
        "mrr": 0.5,
    }
    assert slices["slice"]["out_of_scope"] == {"support": 1}  # no answerable query: no recall
    assert slices["length"]["very_short"]["support"] == 3 and slices["length"]["very_long"]["support"] == 1


def test_queries_without_a_slice_column_get_length_buckets_only():
    queries = pd.DataFrame({"query": ["a b"], "kb_id": ["KB1"]})
    assert list(query_slices(queries, [["KB1"]], [1], short=1, long=5)) == ["length"]


def test_a_slice_column_the_data_lacks_is_refused_in_one_line():
    frame = pd.DataFrame({"text": ["x"], "channel": ["chat"]})
    check_columns(frame, ["channel"], "test.csv")
    with pytest.raises(StageError, match=r"^evaluate.slices names 'chanel', not a column of test.csv \(columns: "):
        check_columns(frame, ["chanel"], "test.csv")
    with pytest.raises(StageError, match="'length' is the built-in length buckets"):
        check_columns(frame, ["length"], "test.csv")


def test_support_and_dimension_of_slice_metrics_only():
    metrics = {"slices.tickets.channel.chat.accuracy": 0.9, "slices.tickets.channel.chat.support": 12}
    assert support_of("slices.tickets.channel.chat.accuracy", metrics) == 12
    assert support_of("slices.tickets.channel.web.accuracy", metrics) is None
    assert support_of("classification.accuracy", metrics) is None
    assert dimension_of("slices.tickets.channel.chat.accuracy") == "slices.tickets.channel"
    assert dimension_of("classification.per_class.billing.f1") is None
    assert dimension_of("classification.per_class.billing.f1.extra") is None  # five parts, but not a slice


def test_plot_rows_name_each_slice_by_dimension_and_value():
    slices = {"channel": {"chat": {"accuracy": 0.5, "support": 2}}, "length": {"typical": {"support": 1}}}
    assert plot_rows(slices, "accuracy") == [{"slice": "channel=chat", "accuracy": 0.5, "support": 2}]


SLICE_RULES = parse_rules({"slices.tickets.channel.*.accuracy": {"direction": "higher", "abs_tol": 0.03}})
SLICE_BASE = {
    "slices.tickets.channel.chat.accuracy": 0.90,
    "slices.tickets.channel.chat.support": 100,
    "slices.tickets.channel.fax.accuracy": 0.90,
    "slices.tickets.channel.fax.support": 5,
    "slices.tickets.channel.web.accuracy": 0.90,
    "slices.tickets.channel.web.support": 30,
}


def gated(current, min_support=30):
    rows = compare_all(SLICE_BASE, current, SLICE_RULES)
    ungate_small_slices(rows, current, SLICE_BASE, min_support)
    return {row.metric: (row.verdict, row.failed) for row in rows if row.metric.endswith("accuracy")}


def test_a_glob_rule_gates_every_slice_but_the_small_ones():
    current = {**SLICE_BASE, "slices.tickets.channel.chat.accuracy": 0.85, "slices.tickets.channel.fax.accuracy": 0.5}
    rows = gated(current)
    assert rows["slices.tickets.channel.chat.accuracy"] == ("regressed", True)
    assert rows["slices.tickets.channel.fax.accuracy"] == (
        "worse (too few cases to gate) (5 cases < evaluate.min_support 30: not gated)",
        False,
    )
    assert rows["slices.tickets.channel.web.accuracy"] == ("unchanged", False)  # 30 cases: exactly enough
    fresh = compare_all(None, current, SLICE_RULES)
    ungate_small_slices(fresh, current, None, 30)
    assert {row.verdict for row in fresh} == {"new"}  # no baseline: nothing compared, nothing to annotate
    assert gated(current, min_support=101)["slices.tickets.channel.chat.accuracy"][1] is False


def test_a_small_slice_that_vanished_is_judged_by_its_base_support():
    current = {k: v for k, v in SLICE_BASE.items() if ".fax." not in k}
    assert gated(current)["slices.tickets.channel.fax.accuracy"] == (
        "worse (too few cases to gate) (5 cases < evaluate.min_support 30: not gated)",
        False,
    )
    del current["slices.tickets.channel.web.support"]
    del current["slices.tickets.channel.web.accuracy"]
    assert gated(current)["slices.tickets.channel.web.accuracy"] == ("vanished", True)


def test_the_report_groups_slices_under_their_dimension_worst_first():
    current = {
        **SLICE_BASE,
        "slices.tickets.channel.chat.accuracy": 0.80,
        "slices.tickets.channel.web.accuracy": 0.95,
        "slices.tickets.channel.fax.accuracy": 0.2,
        "slices.tickets.tier.*bold*|x.accuracy": 0.9,
        "slices.tickets.tier.*bold*|x.support": 50,
        "classification.accuracy": 0.9,
    }
    rules = parse_rules(
        {
            "slices.tickets.*.*.accuracy": {"direction": "higher", "abs_tol": 0.03},
            "classification.accuracy": {"direction": "higher"},
        }
    )
    rows = compare_all({**SLICE_BASE, "classification.accuracy": 0.9}, current, rules)
    ungate_small_slices(rows, current, SLICE_BASE, 30)
    report = markdown_report(GateResult(EXIT_REGRESSION, "regression", "main", "abc1234", rows)).splitlines()
    heading = report.index("### Slices")
    overall = "| `classification.accuracy` | 0.9000 | 0.9000 | 0 | higher is better, no tolerance | ✅ unchanged |"
    assert report.index(overall) < heading
    channel = report.index("**tickets by `channel`**")
    tier = report.index("**tickets by `tier`**")
    assert heading < channel < tier  # the dimension with the failure first
    rows_shown = [line.split(" | ")[0] for line in report[channel + 4 : channel + 7]]
    assert rows_shown == [
        "| `slices.tickets.channel.chat.accuracy`",  # failed
        "| `slices.tickets.channel.fax.accuracy`",  # worse, too few cases
        "| `slices.tickets.channel.web.accuracy`",  # improved
    ]
    assert "| `slices.tickets.tier.*bold*\\|x.accuracy` |" in report[tier + 4]  # Markdown in a value stays text


def test_floors_take_glob_patterns_and_exact_names_win():
    metrics = {"slices": {"tickets": {"channel": {"chat": {"accuracy": 0.7, "support": 40}, "web": {"accuracy": 0.9}}}}}
    thresholds = {"slices.tickets.channel.*.accuracy": 0.8, "slices.tickets.channel.chat.accuracy": 0.6}
    rows, unknown = check_thresholds(metrics, thresholds)
    assert unknown == []
    assert rows == [
        ("slices.tickets.channel.chat.accuracy", 0.7, 0.6, True),
        ("slices.tickets.channel.web.accuracy", 0.9, 0.8, True),
    ]
    tiers = "slices.tickets.tier.*.accuracy"
    assert check_thresholds(metrics, {tiers: 0.8}) == ([], [tiers])


def test_a_slice_below_min_support_is_reported_never_refused():
    metrics = {"slices": {"tickets": {"channel": {"fax": {"accuracy": 0.1, "support": 29}}}}}
    rows, _ = check_thresholds(metrics, {"slices.tickets.channel.*.accuracy": 0.8})
    assert split_small_slices(rows, metrics, 30) == ([], [("slices.tickets.channel.fax.accuracy", 0.1, 0.8, 29)])
    assert split_small_slices(rows, metrics, 29) == (rows, [])
    decision = decide(metrics, [], {"thresholds": {"slices.tickets.*.*.accuracy": 0.8}, "require_must_pass": False}, 30)
    assert decision.promoted
    assert "not gated, 29 cases < evaluate.min_support: slices.tickets.channel.fax.accuracy 0.1000" in decision.report()
