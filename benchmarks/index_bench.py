"""Vector index figures: build time, single-query latency (p50/p95) and recall@k against exact search.

Run by `benchmarks/run.py` as its own process (so its peak memory is measured
apart), with the baked project's `src` on PYTHONPATH: it builds and searches
indexes with the project's own `build_index` and `VectorIndex.search/save`
(vector_index.py) and the `index:` params of its params.yaml, on one thread, as
the `index` stage runs them. The ground truth is computed here, with NumPy.

Recall@k counts a returned vector as a hit when its score reaches the k-th best
exact score (less a float32 rounding allowance), as ann-benchmarks does: with
tied scores any of the tied vectors is a right answer.

Two kinds of vectors:

- ``synthetic``: clustered random unit vectors (one cluster per ~100 vectors,
  each vector at cosine ~0.7 from its centre, like articles around a topic), at
  each requested size; queries are drawn the same way.
- ``kb``: the real embeddings a baked project wrote to data/embeddings/vectors.npy;
  the last `--queries` rows are held out as queries, the rest are indexed.

Writes a JSON list of rows: {data, backend, n, dim, k, build_s, index_mib,
p50_ms, p95_ms, recall}.
"""

from __future__ import annotations

import argparse
import importlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

CHUNK = 100_000  # vectors generated at a time: bounds the float64 temporaries
SCORE_BLOCK = 2**25  # (query, vector) scores held at once by the ground truth: 128 MiB of float32
TOLERANCE = 1e-5  # float32 inner products computed in another order differ in the last bits


def clustered_unit_vectors(n: int, dim: int, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`n` float32 unit vectors, each a random centre plus Gaussian noise of the same norm, normalised."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        picked = centres[rng.integers(len(centres), size=size)]
        block = picked + rng.normal(scale=1 / np.sqrt(dim), size=(size, dim))
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def synthetic(n: int, n_queries: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indexed vectors and queries from the same clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(16, n // 100), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return clustered_unit_vectors(n, dim, centres, rng), clustered_unit_vectors(n_queries, dim, centres, rng)


def kth_best_scores(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The k-th highest inner product of each query with `vectors`: the bar a true top-k result reaches."""
    out = np.empty(len(queries), dtype=np.float32)
    step = max(1, SCORE_BLOCK // len(vectors))
    for start in range(0, len(queries), step):
        scores = queries[start : start + step] @ vectors.T
        out[start : start + step] = np.partition(scores, -k, axis=1)[:, -k]
    return out


def recall(results: np.ndarray, vectors: np.ndarray, queries: np.ndarray, kth: np.ndarray) -> float:
    """Share of the k results per query that score at least the k-th best exact score (missing rows: misses)."""
    found = results >= 0  # faiss pads with -1 when it finds fewer than k
    scores = np.einsum("qd,qkd->qk", queries, vectors[np.where(found, results, 0)])
    return float(np.mean(found & (scores >= kth[:, None] - TOLERANCE)))


def latency_ms(index, queries: np.ndarray, k: int) -> tuple[float, float]:
    """p50 and p95 of one-query searches, after one warm-up search."""
    index.search(queries[:1], k)
    timings = []
    for row in queries:
        start = time.perf_counter()
        index.search(row[None, :], k)
        timings.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 95))


def measure(
    build_index: Callable,
    data: str,
    vectors: np.ndarray,
    queries: np.ndarray,
    params: dict,
    n_latency: int,
    backends: list[str],
) -> list[dict]:
    """One row per backend for these vectors; recall is measured against exact search of all `queries`."""
    k = int(params["k"])
    kth = kth_best_scores(vectors, queries, k)
    ids = [str(i) for i in range(len(vectors))]
    rows = []
    for backend in backends:
        start = time.perf_counter()
        index = build_index(backend, ids, vectors, params)
        build_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            index.save(Path(tmp) / "index")
            size = sum(f.stat().st_size for f in (Path(tmp) / "index").iterdir())
        p50, p95 = latency_ms(index, queries[:n_latency], k)
        rows.append(
            {
                "data": data,
                "backend": backend,
                "n": len(vectors),
                "dim": int(vectors.shape[1]),
                "k": k,
                "build_s": round(build_s, 3),
                "index_mib": round(size / 2**20, 1),
                "p50_ms": round(p50, 3),
                "p95_ms": round(p95, 3),
                "recall": round(recall(index.search(queries, k), vectors, queries, kth), 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        del index
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", required=True, help="the baked project's package name")
    parser.add_argument("--params", type=Path, required=True, help="the baked project's params.yaml")
    parser.add_argument("--sizes", type=int, nargs="+", required=True, help="synthetic index sizes")
    parser.add_argument("--dim", type=int, required=True)
    parser.add_argument("--queries", type=int, required=True, help="queries for recall")
    parser.add_argument("--latency-queries", type=int, required=True, help="of which timed one by one")
    parser.add_argument("--kb-vectors", type=Path, required=True, help="a project's data/embeddings/vectors.npy")
    parser.add_argument("--backends", nargs="+", default=["exact", "hnsw"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    build_index = importlib.import_module(f"{args.package}.vector_index").build_index
    one_thread = importlib.import_module(f"{args.package}.runner").one_thread
    params = yaml.safe_load(args.params.read_text(encoding="utf-8"))["index"]
    rows = []
    with one_thread():  # as the index stage runs
        kb = np.load(args.kb_vectors)
        held_out = min(args.queries, len(kb) // 10)
        vectors, queries = kb[:-held_out], kb[-held_out:]
        n_latency = min(args.latency_queries, held_out)
        rows += measure(build_index, "kb", vectors, queries, params, n_latency, args.backends)
        for n in args.sizes:
            vectors, queries = synthetic(n, args.queries, args.dim, seed=n)
            rows += measure(build_index, "synthetic", vectors, queries, params, args.latency_queries, args.backends)
            del vectors, queries
    args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
