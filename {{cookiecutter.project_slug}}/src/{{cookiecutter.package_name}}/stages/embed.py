"""Stage `embed`: embed the knowledge base with the production encoder.

Writes the articles' vectors and, for a hybrid encoder, their BM25 rows
(`terms/`). Only articles whose text or encoder changed are embedded again;
the others come from the content-hash keyed cache (`embed.cache_dir`). With
`embed.engine: dask` a Dask cluster computes the missing vectors; this stage
still writes every output and cache segment (see `dask_engine.py`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..embeddings import embed_texts, vector_engine
from ..encoders import Encoder
from ..io import read_csv, write_csr, write_lines, write_npy
from ..params import load_params
from ..runner import run_stage
from ..text import kb_documents

OUT_DIR = Path("data/embeddings")


def main() -> int:
    params = load_params()["embed"]
    kb = read_csv("data/validated/kb.csv")
    encoder = Encoder("models/production/encoder")
    with vector_engine(encoder, params) as encode:
        result = embed_texts(encoder, kb_documents(kb), params["cache_dir"], encode)
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)  # no BM25 rows left behind by an earlier hybrid encoder
    write_npy(result.vectors, OUT_DIR / "vectors.npy")
    write_lines(kb["id"].tolist(), OUT_DIR / "ids.txt")
    if result.terms is not None:
        write_csr(result.terms, OUT_DIR / "terms")
    # Say where reused vectors came from: on a first run, "0 embedded" reads as a bug otherwise.
    source = (
        f": {params['cache_dir']} already held them for this encoder, from evaluate (which embeds the KB "
        "to measure retrieval) or an earlier run"
        if result.n_reused
        else ""
    )
    on_dask = " on the Dask cluster" if params["engine"] == "dask" and result.n_embedded else ""
    print(
        f"embed: {len(kb)} articles, {result.n_embedded} embedded{on_dask}, {result.n_reused} reused from cache "
        f"(dim {result.vectors.shape[1]}){source}"
    )
    return 0


if __name__ == "__main__":
    run_stage(main)
