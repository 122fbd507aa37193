import math

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.retrieval import (
    abstention_curve,
    exact_search,
    mean_reciprocal_rank,
    overlap_at_k,
    recall_at_k,
    top_k,
    tune_abstention,
)


def test_exact_search_ranks_by_cosine_and_breaks_ties_by_row():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    assert exact_search(vectors, np.array([[1.0, 0.0]], dtype=np.float32), k=3).tolist() == [[0, 2, 1]]


def test_recall_and_mrr():
    ranked = [["a", "b", "c"], ["b", "c", "a"], ["c", "b", "x"]]
    expected = ["a", "a", "a"]
    assert recall_at_k(ranked, expected, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, expected, 3) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(ranked, expected) == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_overlap_of_an_index_with_itself_is_one():
    rows = np.array([[0, 1, 2], [2, 1, 0]])
    assert overlap_at_k(rows, rows) == 1.0
    assert overlap_at_k(np.array([[0, 1, 5]]), np.array([[0, 1, 2]])) == pytest.approx(2 / 3)


def test_recall_at_k_looks_at_exactly_k_results():
    ranked = [["x", "a", "y"], ["a", "x", "y"], ["x", "y", "a"]]
    expected = ["a", "a", "a"]
    assert recall_at_k(ranked, expected, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, expected, 2) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, expected, 3) == 1.0
    assert math.isnan(recall_at_k([], [], 5)) and math.isnan(mean_reciprocal_rank([], []))


def test_mrr_uses_the_first_rank_of_the_expected_id():
    assert mean_reciprocal_rank([["x", "y", "a"], ["a"]], ["a", "a"]) == pytest.approx((1 / 3 + 1) / 2)
    assert mean_reciprocal_rank([["x", "y"]], ["a"]) == 0.0


def test_top_k_matches_a_full_stable_sort_with_ties_and_nan():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=40).astype(np.float32)  # many ties
    for k in (0, 1, 7, 39, 40, 45):
        assert top_k(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()
    with_nan = np.array([0.5, np.nan, 0.9, 0.1], dtype=np.float32)
    assert top_k(with_nan, 2).tolist() == [2, 0]
    mostly_nan = np.array([0.5, np.nan, np.nan, 0.1, np.nan], dtype=np.float32)  # fewer numbers than k: NaN last
    assert top_k(mostly_nan, 4).tolist() == [0, 3, 1, 2]
    assert top_k(scores, 0).dtype == np.intp and top_k(scores, 3).dtype == np.intp


def test_exact_search_in_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(0)
    vectors, queries = rng.normal(size=(30, 4)).astype(np.float32), rng.normal(size=(9, 4)).astype(np.float32)
    expected = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :5]
    monkeypatch.setattr("{{ cookiecutter.package_name }}.retrieval.SCORE_BLOCK", 60)  # 2 queries per block
    assert exact_search(vectors, queries, 5).tolist() == expected.tolist()
    assert exact_search(vectors, queries, 50).shape == (9, 30)  # k is capped at the number of vectors


def test_overlap_counts_shared_neighbours_whatever_their_order():
    assert overlap_at_k(np.array([[2, 1, 0], [5, 6, 7]]), np.array([[0, 1, 2], [0, 1, 2]])) == pytest.approx(0.5)
    assert overlap_at_k(np.array([[0, 1, 9, 9]]), np.array([[0, 1]])) == 1.0  # only the first k count
    assert math.isnan(overlap_at_k(np.empty((0, 3)), np.empty((0, 3))))


def test_tuned_abstention_is_the_best_f1_of_all_midpoints_lowest_first():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    for _ in range(30):
        scores = rng.integers(0, 6, size=12) / 2  # ties between scores, and between thresholds
        answerable = rng.random(12) < 0.6
        if answerable.all():
            continue
        distinct = np.unique(scores)
        thresholds = [distinct[0] - 1e-3, *((distinct[:-1] + distinct[1:]) / 2), distinct[-1] + 1e-3]
        f1 = [f1_score(~answerable, scores < t, zero_division=0) for t in thresholds]
        expected = thresholds[int(np.argmax(np.round(f1, 9)))]  # argmax: the first, so the lowest, of equals
        assert tune_abstention(scores, answerable.tolist()) == round(expected, 4)


def test_tuning_breaks_a_tie_towards_fewer_withheld_answers():
    # abstaining below 1.5 (one right) and below 4.001 (both right, both wrong) both score F1 2/3
    assert tune_abstention(np.array([1.0, 2.0, 3.0, 4.0]), [False, True, True, False]) == 1.5
    assert tune_abstention(np.array([1.0, 1.33333]), [False, True]) == 1.1667  # rounded to 4 digits


def test_the_abstention_curve_rounds_thresholds_and_counts_each_unanswerable_query():
    curve = abstention_curve(np.array([1.0, 1.33333, 2.0]), [False, False, True], points=4)
    assert curve == [
        {"threshold": 1.0, "precision": 0.0, "recall": 0.0},
        {"threshold": 1.3333, "precision": 1.0, "recall": 0.5},
        {"threshold": 1.6667, "precision": 1.0, "recall": 1.0},
        {"threshold": 2.0, "precision": 1.0, "recall": 1.0},
    ]
    assert abstention_curve([3, 1], [True, False], points=2) == [
        {"threshold": 1.0, "precision": 0.0, "recall": 0.0},
        {"threshold": 3.0, "precision": 1.0, "recall": 1.0},
    ]


def test_top_k_with_nan_and_many_ties_keeps_index_order():
    scores = np.array([1.0, np.nan, 0.5, 1.0, 0.5] * 8)  # 40 scores: beyond the sizes a plain sort keeps in order
    k = len(scores) - 3  # past the NaN scores: the full sort places them last
    assert top_k(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()


def test_the_abstention_curve_has_50_points_by_default():
    assert len(abstention_curve(np.arange(50.0), [False] + [True] * 49)) == 50
