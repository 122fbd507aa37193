import numpy as np
import pytest

from {{ cookiecutter.package_name }}.retrieval import exact_search, mean_reciprocal_rank, overlap_at_k, recall_at_k


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
