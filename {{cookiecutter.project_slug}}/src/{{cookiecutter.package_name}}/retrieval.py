"""Exact nearest-neighbour search and retrieval metrics.

Vectors are L2-normalised, so the inner product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Scores of at most this many (query, vector) pairs are held at once: 32 M float32 = 128 MB.
SCORE_BLOCK = 32 * 1024 * 1024


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the `k` most similar vectors per query, best first.

    Ties are broken by row order, as a stable sort of all scores would break
    them, so results are reproducible. Queries are scored in blocks so memory
    stays bounded (`SCORE_BLOCK` scores) whatever the number of queries, and
    each row keeps its top `k` with a partial sort: linear in the number of
    vectors instead of n log n.
    """
    k = min(k, len(vectors))
    out = np.empty((len(queries), k), dtype=np.intp)
    step = max(1, SCORE_BLOCK // max(1, len(vectors)))
    for start in range(0, len(queries), step):
        scores = queries[start : start + step] @ vectors.T
        for row, row_scores in enumerate(scores):
            out[start + row] = top_k(row_scores, k)
    return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` highest `scores`, best first, ties by index: `argsort(-scores, stable)[:k]`, faster."""
    if k == 0:
        return np.empty(0, dtype=np.intp)
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")[:k]
    negated = -scores
    kth = np.partition(negated, k - 1)[k - 1]
    # every index scoring at least the k-th best, ties included, in index order; then a stable sort picks the top k
    candidates = np.flatnonzero(negated <= kth)
    if len(candidates) < k:  # NaN scores: fall back to the full sort, which places them last
        return np.argsort(negated, kind="stable")[:k]
    return candidates[np.argsort(negated[candidates], kind="stable")[:k]]


def recall_at_k(ranked: Sequence[Sequence[str]], expected: Sequence[str], k: int) -> float:
    """Share of queries whose expected id is among the first `k` results."""
    hits = [target in list(row)[:k] for row, target in zip(ranked, expected, strict=True)]
    return float(np.mean(hits)) if hits else float("nan")


def mean_reciprocal_rank(ranked: Sequence[Sequence[str]], expected: Sequence[str]) -> float:
    """Mean of 1/rank of the expected id (0 when it is not retrieved)."""
    ranks = [
        1.0 / (list(row).index(target) + 1) if target in list(row) else 0.0
        for row, target in zip(ranked, expected, strict=True)
    ]
    return float(np.mean(ranks)) if ranks else float("nan")


def overlap_at_k(approximate: np.ndarray, exact: np.ndarray) -> float:
    """Recall of an approximate index against exact search: shared neighbours / k."""
    k = exact.shape[1]
    shared = [len(set(a[:k]) & set(e)) for a, e in zip(approximate, exact, strict=True)]
    return float(np.sum(shared) / (k * len(exact))) if len(exact) else float("nan")


def answered(top_scores: np.ndarray, abstain_below: float) -> np.ndarray:
    """True where a query gets an answer: its best score reaches `abstain_below`; below it, "no answer"."""
    return np.asarray(top_scores, dtype=np.float64) >= abstain_below


def abstention_metrics(answers: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float]:
    """Precision and recall of abstaining: of the queries given no answer, the share that had none in the KB,
    and of the queries that had none, the share given no answer. 0 when there is nothing to divide by."""
    abstained = ~np.asarray(answers, dtype=bool)
    no_answer = ~np.asarray(answerable, dtype=bool)
    right = int(np.sum(abstained & no_answer))
    return {
        "precision": right / int(abstained.sum()) if abstained.any() else 0.0,
        "recall": right / int(no_answer.sum()) if no_answer.any() else 0.0,
    }


def abstention_curve(top_scores: np.ndarray, answerable: Sequence[bool], points: int = 50) -> list[dict[str, float]]:
    """Precision and recall of abstaining at `points` thresholds spread over the observed best scores."""
    scores = np.asarray(top_scores, dtype=np.float64)
    if not len(scores):
        return []
    thresholds = np.unique(np.round(np.linspace(scores.min(), scores.max(), points), 4))
    return [{"threshold": float(t), **abstention_metrics(answered(scores, t), answerable)} for t in thresholds]


def tune_abstention(top_scores: np.ndarray, answerable: Sequence[bool]) -> float:
    """The threshold with the best F1 of abstaining, midway between two observed scores (0 if no query lacks
    an answer). Ties go to the lowest threshold: the one that withholds the fewest answers."""
    scores = np.asarray(top_scores, dtype=np.float64)
    if not len(scores) or all(answerable):
        return 0.0
    distinct = np.unique(scores)
    candidates = np.concatenate([[distinct[0] - 1e-3], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + 1e-3]])
    best, best_f1 = 0.0, -1.0
    for threshold in candidates:
        measured = abstention_metrics(answered(scores, threshold), answerable)
        total = measured["precision"] + measured["recall"]
        f1 = 2 * measured["precision"] * measured["recall"] / total if total else 0.0
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(threshold), f1
    return round(best, 4)
