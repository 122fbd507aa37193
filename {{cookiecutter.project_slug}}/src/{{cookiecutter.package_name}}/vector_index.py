"""Vector indexes over the knowledge-base embeddings.

``exact`` stores the vectors and searches them with NumPy: exact, and fast
enough up to about 100k documents. ``hnsw`` builds a faiss HNSW graph for larger
corpora. Both write identical bytes for identical input (faiss is built on one
thread), which DVC's caching relies on.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import read_lines, write_lines, write_npy, write_text
from .retrieval import exact_search

BACKENDS = ("exact", "hnsw")


def _faiss():
    try:
        import faiss
    except ImportError as err:
        raise ImportError("index.backend is 'hnsw' but faiss is not installed: pip install -e '.[hnsw]'") from err
    faiss.omp_set_num_threads(1)  # multi-threaded builds are not reproducible
    return faiss


class VectorIndex:
    """Search `k` nearest ids for query vectors, whatever the backend."""

    def __init__(self, backend: str, ids: Sequence[str], vectors: np.ndarray | None = None, graph: Any = None):
        self.backend, self.ids, self.vectors, self.graph = backend, list(ids), vectors, graph

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Row indices of the nearest vectors, best first."""
        if self.backend == "exact":
            return exact_search(self.vectors, queries, k)
        _, rows = self.graph.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(self.ids)))
        return rows

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

    @classmethod
    def load(cls, path: str | os.PathLike) -> VectorIndex:
        folder = Path(path)
        backend = (folder / "backend.txt").read_text(encoding="utf-8").strip()
        ids = read_lines(folder / "ids.txt")
        if backend == "exact":
            return cls(backend, ids, vectors=np.load(folder / "vectors.npy"))
        return cls(backend, ids, graph=_faiss().read_index(str(folder / "index.faiss")))


def build_index(backend: str, ids: Sequence[str], vectors: np.ndarray, params: dict[str, Any]) -> VectorIndex:
    """Build the index chosen by `backend` from unit vectors."""
    if backend not in BACKENDS:
        raise ValueError(f"index.backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if backend == "exact":
        return VectorIndex(backend, ids, vectors=vectors)
    faiss = _faiss()
    hnsw = params["hnsw"]
    graph = faiss.IndexHNSWFlat(vectors.shape[1], hnsw["m"], faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = hnsw["ef_construction"]
    graph.hnsw.efSearch = hnsw["ef_search"]
    graph.add(vectors)
    return VectorIndex(backend, ids, graph=graph)
