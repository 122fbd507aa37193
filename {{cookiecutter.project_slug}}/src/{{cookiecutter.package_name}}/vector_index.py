"""Search indexes over the knowledge base: dense vectors, optionally blended with BM25.

``exact`` stores the vectors and searches them with NumPy: exact, and fast
enough up to about 100k documents. ``hnsw`` builds a faiss HNSW graph for larger
corpora. Both write identical bytes for identical input (faiss is built on one
thread), which DVC's caching relies on.

Hybrid search. Given BM25 rows of the articles (`lexical.py`), an index also
keeps their postings (the transposed rows) and the mean and covariance of the
vectors. A query's dense and BM25 scores are each turned into z-scores over the
whole corpus (how many standard deviations above that query's mean score), and
articles are ranked by ``w * z_dense + (1 - w) * z_bm25``, `w` being the
encoder's ``dense_weight``. Z-scores put the two scales on one footing without
a per-corpus constant. The dense mean and variance of a query ``q`` over all
articles are ``q . mean`` and ``q' cov q``, so they cost nothing per article;
the BM25 ones come from the query's sparse score row. ``exact`` blends every
article; ``hnsw`` blends the union of the graph's and BM25's best candidates
(``ef_search`` of each), with the same formula, so the two agree on what they
both see.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .io import read_csr, read_lines, write_csr, write_lines, write_npy, write_text
from .retrieval import SCORE_BLOCK, exact_search, top_k

BACKENDS = ("exact", "hnsw")


def _faiss():
    try:
        import faiss
    except ImportError as err:
        raise ImportError("index.backend is 'hnsw' but faiss is not installed: pip install -e '.[hnsw]'") from err
    faiss.omp_set_num_threads(1)  # multi-threaded builds are not reproducible
    return faiss


class VectorIndex:
    """Search the `k` best ids for query vectors (and BM25 query rows), whatever the backend."""

    def __init__(
        self,
        backend: str,
        ids: Sequence[str],
        vectors: np.ndarray | None = None,
        graph: Any = None,
        postings: sp.csr_matrix | None = None,
        dense_stats: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.backend, self.ids, self.vectors, self.graph = backend, list(ids), vectors, graph
        self.postings, self.dense_stats = postings, dense_stats

    @property
    def hybrid(self) -> bool:
        return self.postings is not None

    def search(
        self, queries: np.ndarray, k: int, query_terms: sp.csr_matrix | None = None, dense_weight: float = 1.0
    ) -> np.ndarray:
        """Row indices of the best articles per query, best first, ties by row.

        Dense only when the index or the queries have no BM25 rows or
        `dense_weight` is 1; else the blend described in the module docstring.
        """
        return self.search_scored(queries, k, query_terms, dense_weight)[0]

    def search_scored(
        self, queries: np.ndarray, k: int, query_terms: sp.csr_matrix | None = None, dense_weight: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """`search`, with the score of each result: the cosine similarity (dense only) or the blended z-score."""
        k = min(k, len(self.ids))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if not self.hybrid or query_terms is None or dense_weight >= 1:
            if self.backend == "exact":
                rows = exact_search(self.vectors, queries, k)
                return rows, np.einsum("qkd,qd->qk", self.vectors[rows], queries)
            scores, rows = self.graph.search(queries, k)
            return rows, scores
        rows = np.empty((len(queries), k), dtype=np.intp)
        scores = np.empty((len(queries), k), dtype=np.float32)
        step = max(1, SCORE_BLOCK // max(1, len(self.ids)))
        for start in range(0, len(queries), step):
            block = slice(start, start + step)
            rows[block], scores[block] = self._hybrid_block(queries[block], query_terms[block], k, dense_weight)
        return rows, scores

    def _hybrid_block(
        self, queries: np.ndarray, terms: sp.csr_matrix, k: int, dense_weight: float
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.ids)
        lexical = (terms @ self.postings).tocsr()  # BM25 score of every article, zeros left out
        lexical_mean = np.asarray(lexical.sum(axis=1)).ravel() / n
        lexical_sq = np.asarray(lexical.multiply(lexical).sum(axis=1)).ravel() / n
        lexical_std = np.sqrt(np.maximum(lexical_sq - lexical_mean**2, 0))
        mean, cov = self.dense_stats
        dense_mean = queries @ mean
        dense_std = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", queries, cov, queries), 0))

        if self.backend == "exact":
            dense = queries @ self.vectors.T
            blended = dense_weight * zscores(dense, dense_mean, dense_std)
            blended += (1 - dense_weight) * zscores(lexical.toarray(), lexical_mean, lexical_std)
            rows = np.stack([top_k(row, k) for row in blended])
            return rows, np.take_along_axis(blended, rows, axis=1)

        width = max(k, self.graph.hnsw.efSearch)
        graph_rows = self.graph.search(queries, width)[1]
        out = np.empty((len(queries), k), dtype=np.intp)
        out_scores = np.empty((len(queries), k), dtype=np.float32)
        for i, query in enumerate(queries):
            row = lexical.getrow(i)
            best_lexical = row.indices[top_k(row.data, width)] if row.nnz else row.indices
            candidates = np.union1d(graph_rows[i][graph_rows[i] >= 0], best_lexical)  # sorted: ties by row
            dense = self.graph.reconstruct_batch(candidates) @ query
            lexical_scores = row[:, candidates].toarray().ravel()
            blended = dense_weight * zscores(dense[None], dense_mean[i : i + 1], dense_std[i : i + 1])[0]
            blended += (1 - dense_weight) * zscores(
                lexical_scores[None], lexical_mean[i : i + 1], lexical_std[i : i + 1]
            )[0]
            best = top_k(blended, k)
            out[i], out_scores[i] = candidates[best], blended[best]
        return out, out_scores

    def save(self, out_dir: str | os.PathLike) -> None:
        out = Path(out_dir)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        write_text(self.backend + "\n", out / "backend.txt")
        write_lines(self.ids, out / "ids.txt")
        if self.backend == "exact":
            write_npy(self.vectors, out / "vectors.npy")
        else:
            _faiss().write_index(self.graph, str(out / "index.faiss"))
        if self.hybrid:
            write_csr(self.postings, out / "postings")
            write_npy(self.dense_stats[0], out / "dense_mean.npy")
            write_npy(self.dense_stats[1], out / "dense_cov.npy")

    @classmethod
    def load(cls, path: str | os.PathLike) -> VectorIndex:
        """Open a saved index. Exact vectors and postings are memory-mapped: pages are read as
        searches touch them, and processes searching the same index share them through the page cache.

        (faiss reads an HNSW index into memory; its mmap flags do not apply to HNSW graphs.)
        """
        folder = Path(path)
        backend = (folder / "backend.txt").read_text(encoding="utf-8").strip()
        ids = read_lines(folder / "ids.txt")
        hybrid: dict[str, Any] = {}
        if (folder / "postings").is_dir():
            hybrid["postings"] = read_csr(folder / "postings", mmap=True)
            hybrid["dense_stats"] = (np.load(folder / "dense_mean.npy"), np.load(folder / "dense_cov.npy"))
        if backend == "exact":
            return cls(backend, ids, vectors=np.load(folder / "vectors.npy", mmap_mode="r"), **hybrid)
        return cls(backend, ids, graph=_faiss().read_index(str(folder / "index.faiss")), **hybrid)


def zscores(scores: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(scores - mean) / std per query row; 0 for a query whose scores do not vary (e.g. no known word)."""
    scale = np.divide(1.0, std, out=np.zeros_like(std, dtype=np.float64), where=std > 0)
    return ((scores - mean[:, None]) * scale[:, None]).astype(np.float32)


def build_index(
    backend: str,
    ids: Sequence[str],
    vectors: np.ndarray,
    params: dict[str, Any],
    terms: sp.csr_matrix | None = None,
) -> VectorIndex:
    """Build the index chosen by `backend` from unit vectors and, for hybrid search, the articles' BM25 rows."""
    if backend not in BACKENDS:
        raise ValueError(f"index.backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    hybrid: dict[str, Any] = {}
    if terms is not None:
        if terms.shape[0] != len(vectors):
            raise ValueError(f"{terms.shape[0]} BM25 rows for {len(vectors)} vectors")
        hybrid["postings"] = sp.csr_matrix(terms.T)
        hybrid["dense_stats"] = dense_stats(vectors)
    if backend == "exact":
        return VectorIndex(backend, ids, vectors=vectors, **hybrid)
    faiss = _faiss()
    hnsw = params["hnsw"]
    graph = faiss.IndexHNSWFlat(vectors.shape[1], hnsw["m"], faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = hnsw["ef_construction"]
    graph.hnsw.efSearch = hnsw["ef_search"]
    graph.add(vectors)
    return VectorIndex(backend, ids, graph=graph, **hybrid)


def dense_stats(vectors: np.ndarray, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) covariance of the rows, accumulated in float64 blocks."""
    n, dim = vectors.shape
    total, outer = np.zeros(dim), np.zeros((dim, dim))
    for start in range(0, n, block):
        part = np.asarray(vectors[start : start + block], dtype=np.float64)
        total += part.sum(axis=0)
        outer += part.T @ part
    mean = total / max(n, 1)
    return mean.astype(np.float32), (outer / max(n, 1) - np.outer(mean, mean)).astype(np.float32)
