"""Stage `index`: build the search index over the KB embeddings and check it.

The index folder also holds, for the service, the articles' titles and the
version of the encoder it was built with (`source.json`). The index is hybrid
(dense vectors blended with BM25, see vector_index.py) when
the production encoder is. Records, as metrics, the index's recall against
exact search with the same blend on the golden queries (1.0 for the exact
backend; how much an approximate index loses), how well it abstains on the
golden queries the KB cannot answer (best score below `index.abstain_below`:
"no answer", the rule the service applies; the threshold is saved beside the
index for it) and, separately, its query latency. Latency varies from run to run, so it goes to
`metrics/index_timing.json`, which is declared as a metric but is not a stage
output: a timing must not change `dvc.lock`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..encoders import Encoder
from ..io import read_csr, read_csv, read_lines, write_json
from ..modelset import file_hashes, part_version
from ..params import load_params
from ..retrieval import abstention_metrics, answered, overlap_at_k
from ..runner import StageError, run_stage
from ..vector_index import VectorIndex, build_index

OUT_DIR = Path("data/index")
PRODUCTION = Path("models/production")
SOURCE_FILE = "source.json"
TITLES_FILE = "titles.json"  # the articles' titles, in index order: the service answers with them
TERMS_DIR = Path("data/embeddings/terms")


def query_latency_ms(
    index: VectorIndex, queries: np.ndarray, query_terms, k: int, dense_weight: float, repeats: int
) -> dict:
    """Median and 95th-percentile latency of one-query searches (encoding excluded), in milliseconds."""
    timings = []
    for _ in range(repeats):
        for row in range(len(queries)):
            terms = query_terms[row : row + 1] if query_terms is not None else None
            start = time.perf_counter()
            index.search(queries[row : row + 1], k, terms, dense_weight)
            timings.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(float(np.percentile(timings, 50)), 4),
        "p95_ms": round(float(np.percentile(timings, 95)), 4),
    }


def save_index(
    index: VectorIndex, titles: list[str], encoder_version: str, out_dir: str | Path, abstain_below: float = 0.0
) -> None:
    """Save `index` with what the service needs beside it: the articles' titles (in index order),
    the version of the encoder it was built with (the service refuses an index of another encoder)
    and the score below which it answers "no answer"."""
    index.save(out_dir)
    write_json({"encoder": encoder_version, "abstain_below": abstain_below}, Path(out_dir) / SOURCE_FILE)
    write_json(titles, Path(out_dir) / TITLES_FILE)


def main() -> int:
    params = load_params()
    settings = params["index"]
    vectors = np.load("data/embeddings/vectors.npy")
    ids = read_lines("data/embeddings/ids.txt")
    encoder = Encoder(PRODUCTION / "encoder")
    terms = read_csr(TERMS_DIR) if encoder.lexical is not None else None
    index = build_index(settings["backend"], ids, vectors, settings, terms)
    kb = read_csv("data/validated/kb.csv", usecols=["id", "title"])
    titles = dict(zip(kb["id"], kb["title"].astype(str), strict=True))
    encoder_version = part_version(file_hashes(PRODUCTION, ("encoder",)), "encoder")
    save_index(index, [titles[i] for i in ids], encoder_version, OUT_DIR, settings["abstain_below"])

    golden = read_csv("data/validated/queries.csv")
    texts = golden["query"].tolist()
    k = settings["k"]
    if settings["latency_repeats"] < 1 or not texts:
        raise StageError("index.latency_repeats must be at least 1 and there must be golden queries to time")
    queries, query_terms = encoder.encode(texts), encoder.query_terms(texts)
    exact = index if settings["backend"] == "exact" else build_index("exact", ids, vectors, settings, terms)
    rows, scores = index.search_scored(queries, k, query_terms, encoder.dense_weight)
    recall = round(overlap_at_k(rows, exact.search(queries, k, query_terms, encoder.dense_weight)), 6)
    summary = {"vectors": len(ids), "dim": int(vectors.shape[1]), f"recall_at_{k}_vs_exact": recall}
    answerable = golden["kb_id"].notna().to_numpy()
    if not answerable.all():
        measured = abstention_metrics(answered(scores[:, 0], settings["abstain_below"]), answerable)
        summary["abstention"] = {name: round(value, 6) for name, value in measured.items()}
    write_json({"index": summary}, "metrics/index.json")
    latency = query_latency_ms(index, queries, query_terms, k, encoder.dense_weight, settings["latency_repeats"])
    write_json({"index_timing": latency}, "metrics/index_timing.json")
    print(f"index: {settings['backend']} index of {len(ids)} vectors, recall@{k} vs exact = {recall:.4f} -> {OUT_DIR}")
    return 0


if __name__ == "__main__":
    run_stage(main)
