import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.abstention import set_threshold
from {{ cookiecutter.package_name }}.retrieval import abstention_curve, abstention_metrics, answered, tune_abstention
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages.evaluate import query_cases


def test_a_score_at_the_threshold_is_answered():
    assert answered(np.array([0.9, 1.0, 1.1]), 1.0).tolist() == [False, True, True]


def test_abstention_precision_and_recall_count_each_case():
    answers = [False, False, False, True, True]
    answerable = [False, False, True, False, True]
    assert abstention_metrics(answers, answerable) == {"precision": 2 / 3, "recall": 2 / 3}
    assert abstention_metrics([True, True], [False, True]) == {"precision": 0.0, "recall": 0.0}  # never abstains
    assert abstention_metrics([False, True], [True, True]) == {"precision": 0.0, "recall": 0.0}  # nothing to abstain on


def test_with_the_threshold_at_zero_every_query_without_an_answer_is_a_miss():
    scores = np.array([0.5, 2.0, 3.0, 0.1])
    answerable = [False, True, True, False]
    assert abstention_metrics(answered(scores, 0.0), answerable)["recall"] == 0.0


def test_tuning_separates_scores_midway_and_prefers_the_lowest_of_equals():
    scores = np.array([1.0, 2.0, 4.0, 6.0])
    assert tune_abstention(scores, [False, False, True, True]) == 3.0
    assert tune_abstention(scores, [True, True, True, True]) == 0.0
    # abstaining on all four or on none: F1 2/3 vs 0; then the lowest threshold with the best F1
    assert tune_abstention(np.array([1.0, 1.0]), [False, True]) == pytest.approx(1.001)
    assert tune_abstention(np.array([]), []) == 0.0


def test_the_curve_spans_the_observed_scores():
    curve = abstention_curve(np.array([1.0, 3.0]), [False, True], points=3)
    assert [point["threshold"] for point in curve] == [1.0, 2.0, 3.0]
    assert curve[1] == {"threshold": 2.0, "precision": 1.0, "recall": 1.0}
    assert curve[0] == {"threshold": 1.0, "precision": 0.0, "recall": 0.0}  # answers everything
    assert abstention_curve(np.array([]), []) == []


PARAMS = """evaluate:
  abstain_below: 9          # not this section's line
index:
  backend: exact
  abstain_below: 0.0       # best score below this: no answer
  k: 10
drift:
  alpha: 0.1
"""


def test_the_threshold_is_written_on_its_own_line_comment_kept():
    text = set_threshold(PARAMS, 2.61904)
    assert text == PARAMS.replace("abstain_below: 0.0       #", "abstain_below: 2.6190    #")
    assert set_threshold(text, 0.0) == PARAMS.replace("abstain_below: 0.0       #", "abstain_below: 0.0000    #")
    assert set_threshold(text, 12345.5).count("abstain_below: 12345.5000 # best score") == 1  # one space at least
    bare = PARAMS.replace("0.0       # best score below this: no answer", "1.5")
    assert set_threshold(bare, 3.0) == bare.replace("abstain_below: 1.5", "abstain_below: 3.0000")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PARAMS.replace("  abstain_below: 0.0", "  abstain: 0.0"), "add one line `abstain_below: 0.0`"),
        (PARAMS.replace("  k: 10", "  abstain_below: 1.0"), "add one line `abstain_below: 0.0`"),
        (PARAMS.replace("index:", "indexes:"), "has no index section"),
    ],
    ids=["missing", "twice", "no-section"],
)
def test_params_without_exactly_one_threshold_line_are_refused(text, message):
    with pytest.raises(StageError, match=message):
        set_threshold(text, 1.0)


def test_a_query_without_an_answer_is_right_when_retrieval_abstains():
    queries = pd.DataFrame({"query": ["a", "b", "c"], "kb_id": ["KB2", None, None]})
    ranked = [["KB1", "KB2"], ["KB3", "KB1"], ["KB1", "KB3"]]
    cases = query_cases(queries, ranked, np.array([2.0, 0.5, 3.0]), [True, False, True])
    assert cases["rank"].tolist() == [2, 1, 0]
    assert cases["top"].tolist() == ["KB1", "", "KB1"]
    assert cases["answered"].tolist() == [1, 0, 1]
    assert cases["score"].tolist() == [2.0, 0.5, 3.0]
