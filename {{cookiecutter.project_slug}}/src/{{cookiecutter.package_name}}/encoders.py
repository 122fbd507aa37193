"""Text encoders that turn tickets, queries and KB articles into unit vectors.

Two backends share one interface, chosen by `encoder.backend` in params.yaml:

- ``tfidf-svd``: TF-IDF + truncated SVD (latent semantic analysis), fitted on
  the project's own text with scikit-learn. Offline, no GPU, deterministic.
- ``sentence-transformers``: a pretrained model read from a local folder
  (``encoder.sentence_transformers.model_path``); never downloaded at run time.

Either way the encoder also holds a BM25 model of the knowledge base
(`lexical.py`) and the weight of the dense scores against it: retrieval ranks by
a blend of both (hybrid retrieval, see `vector_index.py`).

An encoder is saved as a folder so both backends fit the same DVC outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from .io import write_json
from .lexical import Lexical
from .models import load_model, save_model

BACKENDS = ("tfidf-svd", "sentence-transformers")
SKOPS_FILE = "encoder.skops"
META_FILE = "encoder.json"
LEXICAL_DIR = "lexical"


def fit_tfidf_svd(texts: Sequence[str], params: dict[str, Any]):
    """Fit a TF-IDF + SVD + L2-normalisation pipeline on `texts`."""
    encoder = make_pipeline(
        TfidfVectorizer(
            ngram_range=tuple(params["ngram_range"]),
            min_df=params["min_df"],
            max_features=params["max_features"],
            sublinear_tf=params["sublinear_tf"],
            stop_words="english" if params["stop_words"] else None,
        ),
        TruncatedSVD(n_components=params["n_components"], random_state=params["seed"]),
        Normalizer(),
    )
    encoder.fit(list(texts))
    svd = encoder.named_steps["truncatedsvd"]
    svd.components_ = svd.components_.astype(np.float32)  # half the model file and load time; vectors are float32
    return encoder


def build_encoder(
    backend: str,
    documents: Sequence[str],
    params: dict[str, Any],
    out_dir: str | os.PathLike,
    extra_texts: Sequence[str] = (),
) -> None:
    """Create the encoder folder `out_dir` for `backend` from the encoder params.

    `documents` are the texts retrieval searches (the KB): the BM25 model is
    fitted on them alone, so its statistics are the corpus's. `tfidf-svd` learns
    its vocabulary from `documents` plus `extra_texts` (the training tickets), so
    it also knows the words customers use.
    """
    if backend not in BACKENDS:
        raise ValueError(f"encoder.backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    hybrid = params["hybrid"]
    if not 0 <= hybrid["dense_weight"] <= 1:
        raise ValueError(f"encoder.hybrid.dense_weight must be between 0 and 1, not {hybrid['dense_weight']!r}")
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    meta: dict[str, Any] = {"backend": backend, "dense_weight": float(hybrid["dense_weight"])}
    if backend == "tfidf-svd":
        out.mkdir(parents=True)
        save_model(fit_tfidf_svd([*documents, *extra_texts], params["tfidf_svd"]), out / SKOPS_FILE)
    else:
        settings = params["sentence_transformers"]
        _load_sentence_transformer(settings["model_path"])  # fails early, and clearly, on a bad folder
        # a byte-for-byte copy: re-saving would stamp library versions into the files
        shutil.copytree(settings["model_path"], out, copy_function=shutil.copyfile)
        meta["batch_size"] = settings["batch_size"]
    if hybrid["dense_weight"] < 1:
        Lexical.fit(documents, hybrid["bm25"]).save(out / LEXICAL_DIR)
    write_json(meta, out / META_FILE)


class Encoder:
    """A loaded encoder.

    `encode(texts)` returns L2-normalised float32 rows; `lexical`, when the
    encoder is hybrid, turns texts into BM25 term rows; `dense_weight` is the
    share of the dense scores in the blend (1.0: dense only).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta = json.loads((self.path / META_FILE).read_text(encoding="utf-8"))
        self.backend, self.batch_size = meta["backend"], meta.get("batch_size")
        self.dense_weight = float(meta.get("dense_weight", 1.0))
        lexical_dir = self.path / LEXICAL_DIR
        self.lexical = Lexical.load(lexical_dir) if lexical_dir.is_dir() else None
        if self.backend == "tfidf-svd":
            self._model = load_model(self.path / SKOPS_FILE)
        else:
            self._model = _load_sentence_transformer(self.path)

    @property
    def fingerprint(self) -> str:
        """Hash of the files that make the dense vectors: the key of their embedding cache.

        The BM25 model and `encoder.json` (the blend weight) are left out, so
        changing the weight or the BM25 settings reuses every cached vector.
        """
        return folder_sha256(self.path, exclude={META_FILE, LEXICAL_DIR})

    @property
    def lexical_fingerprint(self) -> str | None:
        """Hash of the BM25 model: the key of the cached BM25 rows."""
        return folder_sha256(self.path / LEXICAL_DIR) if self.lexical else None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self.backend == "tfidf-svd":
            vectors = self._model.transform(list(texts))
        else:
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def query_terms(self, texts: Sequence[str]):
        """BM25 query rows of `texts`, or None when the encoder is dense only."""
        return self.lexical.query_terms(list(texts)) if self.lexical else None


def folder_sha256(path: str | os.PathLike, exclude: Collection[str] = ()) -> str:
    """Hash a folder's relative file names and contents, in sorted order, skipping top-level names in `exclude`."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root)
        if relative.parts[0] in exclude:
            continue
        digest.update(relative.as_posix().encode("utf-8") + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _load_sentence_transformer(model_path: str | os.PathLike):
    """Load a sentence-transformers model from a local folder, never from a hub."""
    if not Path(model_path).is_dir():
        raise FileNotFoundError(
            f"sentence-transformers model folder {str(model_path)!r} not found. Set "
            "encoder.sentence_transformers.model_path in params.yaml to a local model folder "
            "(see the README, 'Models and safety')."
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError(
            "encoder.backend is 'sentence-transformers' but the package is not installed: "
            "pip install -e '.[sentence-transformers]'"
        ) from err
    # safetensors only: weights in .bin files are pickles
    return SentenceTransformer(
        str(model_path), device="cpu", local_files_only=True, model_kwargs={"use_safetensors": True}
    )
