"""Stage `train_encoder`: build the text encoder used for KB retrieval.

With the ``tfidf-svd`` backend the encoder is fitted on the knowledge base and
the training tickets, so it learns the vocabulary customers and articles use.
With ``sentence-transformers`` the local pretrained model is copied in, which
pins the exact model version in DVC.
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
    texts = kb_documents(kb) + train["text"].tolist()
    build_encoder(params["backend"], texts, params, OUT_DIR)
    source = (
        f"{len(texts)} texts" if params["backend"] == "tfidf-svd" else params["sentence_transformers"]["model_path"]
    )
    print(f"train_encoder: {params['backend']} encoder from {source} -> {OUT_DIR}")
    return 0


if __name__ == "__main__":
    run_stage(main)
