"""Stage `embed`: embed the knowledge base with the production encoder.

Only articles whose text or encoder changed are embedded again; the others
come from the content-hash keyed cache (`embed.cache_dir`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..embeddings import embed_texts
from ..encoders import Encoder
from ..io import atomic_path, read_csv, write_text
from ..params import load_params
from ..text import kb_documents

OUT_DIR = Path("data/embeddings")


def main() -> int:
    params = load_params()["embed"]
    kb = read_csv("data/validated/kb.csv")
    encoder = Encoder("models/production/encoder")
    result = embed_texts(encoder, kb_documents(kb), params["cache_dir"])
    with atomic_path(OUT_DIR / "vectors.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, result.vectors)
    write_text("\n".join(kb["id"]) + "\n", OUT_DIR / "ids.txt")
    print(
        f"embed: {len(kb)} articles, {result.n_embedded} embedded, {result.n_reused} reused from cache "
        f"(dim {result.vectors.shape[1]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
