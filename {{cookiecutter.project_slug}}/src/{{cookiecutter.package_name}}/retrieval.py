"""Exact nearest-neighbour search and retrieval metrics.

Vectors are L2-normalised, so the inner product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the `k` most similar vectors per query, best first.

    Ties are broken by row order (stable sort) so results are reproducible.
    """
    k = min(k, len(vectors))
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


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
