import json

from {{ cookiecutter.package_name }}.casediff import (
    confusion_changes,
    mermaid_label,
    must_pass_diff,
    query_diff,
    ticket_diff,
)

HEADER = "id,expected,predicted,confidence\n"
BASE_TICKETS = HEADER + "T1,billing,billing,0.9\nT2,shipping,billing,0.6\nT3,bug,bug,0.8\nT4,bug,bug,0.7\n"
CURRENT_TICKETS = HEADER + "T1,billing,shipping,0.5\nT2,shipping,shipping,0.7\nT3,bug,bug,0.9\nT5,bug,bug,0.9\n"


def test_tickets_that_went_wrong_and_that_were_fixed():
    diff = ticket_diff(BASE_TICKETS, CURRENT_TICKETS, {"T1": "charged twice"})
    assert diff.kind == "test tickets" and ticket_diff(BASE_TICKETS, CURRENT_TICKETS, {}).degraded[0].text == ""
    assert [(c.key, c.text, c.expected, c.before, c.after) for c in diff.degraded] == [
        ("T1", "charged twice", "billing", "billing", "shipping")
    ]
    assert [(c.key, c.before, c.after) for c in diff.improved] == [("T2", "billing", "shipping")]
    assert (diff.unchanged, diff.new, diff.gone) == (1, 1, 1)  # T3 same, T5 new, T4 gone


def test_a_query_degrades_when_its_article_moves_down_or_out_of_the_list():
    base = "query,expected,rank,top\nq1,KB1,1,KB1\nq2,KB2,3,KB9\nq3,KB3,0,KB9\nq4,KB4,2,KB8\n"
    current = "query,expected,rank,top\nq1,KB1,2,KB7\nq2,KB2,1,KB2\nq3,KB3,5,KB9\nq4,KB4,0,KB8\n"
    diff = query_diff(base, current)
    assert diff.kind == "golden queries"
    assert [(c.key, c.text, c.expected, c.before, c.after) for c in diff.degraded] == [
        ("q1", "q1", "KB1", "1", "2"),
        ("q4", "q4", "KB4", "2", "not found"),
    ]
    assert [(c.key, c.before, c.after) for c in diff.improved] == [("q2", "3", "1"), ("q3", "not found", "5")]


def test_must_pass_cases_compare_pass_and_fail():
    def cases(*passed):
        return json.dumps(
            [
                {"text": f"t{i}", "expected": "a", "predicted": "a" if p else "b", "passed": p}
                for i, p in enumerate(passed)
            ]
        )

    diff = must_pass_diff(cases(True, False, True), cases(False, True, True))
    assert [c.key for c in diff.degraded] == ["t0"] and [c.key for c in diff.improved] == ["t1"]
    assert diff.unchanged == 1


def test_confusion_changes_list_only_the_pairs_whose_count_moved():
    assert confusion_changes(BASE_TICKETS, CURRENT_TICKETS) == [
        ("billing", "billing", 1, 0),
        ("billing", "shipping", 0, 1),
        ("shipping", "billing", 1, 0),
        ("shipping", "shipping", 0, 1),
    ]


def test_labels_from_the_data_cannot_break_out_of_a_mermaid_chart():
    assert mermaid_label('bill"ing`]\n```') == '"bill_ing__ ___"'
    assert mermaid_label("") == '"_"'
