"""Stage `train_encoder`: build the text encoder used for KB retrieval.

With the ``tfidf-svd`` backend the encoder is fitted on the knowledge base and
the training tickets, so it learns the vocabulary customers and articles use.
With ``sentence-transformers`` the local pretrained model is copied in, which
pins the exact model version in DVC. Either way, unless
``encoder.hybrid.dense_weight`` is 1, a BM25 model of the knowledge base is
fitted alongside, for hybrid retrieval.
"""

from __future__ import annotations

from ..encoders import build_encoder
from ..io import read_csv
from ..params import load_params
from ..runner import run_stage
from ..text import kb_documents

OUT_DIR = "models/candidate/encoder"


def main() -> int:
    params = load_params()["encoder"]
    kb = read_csv("data/validated/kb.csv")
    train = read_csv("data/split/train.csv")
    build_encoder(params["backend"], kb_documents(kb), params, OUT_DIR, extra_texts=train["text"].tolist())
    source = (
        f"{len(kb)} articles and {len(train)} tickets"
        if params["backend"] == "tfidf-svd"
        else params["sentence_transformers"]["model_path"]
    )
    hybrid = f", BM25 blended with dense weight {params['hybrid']['dense_weight']}"
    print(f"train_encoder: {params['backend']} encoder from {source}{hybrid} -> {OUT_DIR}")
    return 0


if __name__ == "__main__":
    run_stage(main)
