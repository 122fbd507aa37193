"""Stage `index`: build the vector index over the KB embeddings and check it.

Records, as metrics, the index's recall against exact search on the golden
queries (1.0 for the exact backend; how much an approximate index loses) and,
separately, its query latency. Latency varies from run to run, so it goes to
`metrics/index_timing.json`, which is declared as a metric but is not a stage
output: a timing must not change `dvc.lock`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..encoders import Encoder
from ..io import read_csv, read_lines, write_json
from ..params import load_params
from ..retrieval import exact_search, overlap_at_k
from ..runner import StageError, run_stage
from ..vector_index import VectorIndex, build_index

OUT_DIR = Path("data/index")


def query_latency_ms(index: VectorIndex, queries: np.ndarray, k: int, repeats: int) -> dict:
    """Median and 95th-percentile latency of one-query searches, in milliseconds."""
    timings = []
    for _ in range(repeats):
        for row in queries:
            start = time.perf_counter()
            index.search(row[None, :], k)
            timings.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(float(np.percentile(timings, 50)), 4),
        "p95_ms": round(float(np.percentile(timings, 95)), 4),
    }


def main() -> int:
    params = load_params()
    settings = params["index"]
    vectors = np.load("data/embeddings/vectors.npy")
    ids = read_lines("data/embeddings/ids.txt")
    index = build_index(settings["backend"], ids, vectors, settings)
    index.save(OUT_DIR)

    encoder = Encoder("models/production/encoder")
    queries = encoder.encode(read_csv("data/validated/queries.csv")["query"].tolist())
    k = settings["k"]
    if settings["latency_repeats"] < 1 or not len(queries):
        raise StageError("index.latency_repeats must be at least 1 and there must be golden queries to time")
    recall = round(overlap_at_k(index.search(queries, k), exact_search(vectors, queries, k)), 6)
    summary = {"vectors": len(ids), "dim": int(vectors.shape[1]), f"recall_at_{k}_vs_exact": recall}
    write_json({"index": summary}, "metrics/index.json")
    latency = query_latency_ms(index, queries, k, settings["latency_repeats"])
    write_json({"index_timing": latency}, "metrics/index_timing.json")
    print(f"index: {settings['backend']} index of {len(ids)} vectors, recall@{k} vs exact = {recall:.4f} -> {OUT_DIR}")
    return 0


if __name__ == "__main__":
    run_stage(main)
