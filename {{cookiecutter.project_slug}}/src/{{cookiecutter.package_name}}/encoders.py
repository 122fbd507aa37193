"""Text encoders that turn tickets, queries and KB articles into unit vectors.

Two backends share one interface, chosen by `encoder.backend` in params.yaml:

- ``tfidf-svd``: TF-IDF + truncated SVD (latent semantic analysis), fitted on
  the project's own text with scikit-learn and kept as plain arrays, so
  applying it imports neither scikit-learn nor skops. Offline, no GPU,
  deterministic.
- ``sentence-transformers``: a pretrained model read from a local folder
  (``encoder.sentence_transformers.model_path``); never downloaded at run time.

Either way the encoder also holds a BM25 model of the knowledge base
(`lexical.py`) and the weight of the dense scores against it: retrieval ranks by
a blend of both (hybrid retrieval, see `vector_index.py`).

An encoder is saved as a folder so both backends fit the same DVC outputs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import read_json, read_lines, write_json, write_lines, write_npy
from .lexical import Lexical
from .tokens import FIT_CHECK_ROWS, count_matrix

BACKENDS = ("tfidf-svd", "sentence-transformers")
META_FILE = "encoder.json"
LEXICAL_DIR = "lexical"
TFIDF_SVD_DIR = "tfidf_svd"


class TfidfSvd:
    """A fitted TF-IDF + truncated SVD (latent semantic analysis) encoder, as plain arrays.

    Fitting uses scikit-learn (`fit`); applying it needs only NumPy and SciPy, so
    the stages that embed (and the service) load five small files instead of
    importing scikit-learn and skops. The folder holds `vocabulary.txt` (one
    term per line, in column order), `idf.npy`, `components.npy` (the SVD
    axes, float32), `stop_words.txt` and `settings.json` (n-gram range,
    sublinear tf).
    """

    def __init__(
        self,
        vocabulary: list[str],
        idf: np.ndarray,
        components: np.ndarray,
        stop_words: list[str],
        settings: dict[str, Any],
    ):
        self.vocabulary, self.idf, self.components = vocabulary, idf, components
        self.stop_words, self.settings = stop_words, settings
        self._columns = {term: column for column, term in enumerate(vocabulary)}
        self._stop_set = frozenset(stop_words)

    @classmethod
    def fit(cls, texts: Sequence[str], params: dict[str, Any]) -> TfidfSvd:
        """Fit TF-IDF + SVD on `texts` with scikit-learn, keep its arrays, and check that they encode alike."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import Normalizer

        texts = list(texts)
        pipeline = make_pipeline(
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
        pipeline.fit(texts)
        tfidf, svd = pipeline.named_steps["tfidfvectorizer"], pipeline.named_steps["truncatedsvd"]
        svd.components_ = svd.components_.astype(np.float32)  # half the model file; vectors are float32
        encoder = cls(
            vocabulary=tfidf.get_feature_names_out().tolist(),
            idf=tfidf.idf_.astype(np.float64),
            components=svd.components_,
            stop_words=sorted(tfidf.get_stop_words() or ()),
            settings={"ngram_range": list(tfidf.ngram_range), "sublinear_tf": bool(tfidf.sublinear_tf)},
        )
        sample = texts[:FIT_CHECK_ROWS]
        expected = pipeline.transform(sample).astype(np.float32)
        if not np.allclose(encoder.transform(sample), expected, rtol=0, atol=1e-5):
            raise ValueError("the tfidf-svd encoder's arrays do not encode like the scikit-learn model they came from")
        return encoder

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors of `texts` (what scikit-learn's fitted pipeline gives)."""
        counts = count_matrix(texts, self._columns, self._stop_set, tuple(self.settings["ngram_range"]))
        if self.settings["sublinear_tf"]:
            np.log(counts.data, out=counts.data)
            counts.data += 1.0
        counts.data *= self.idf[counts.indices]
        _normalize_rows(counts)
        vectors = np.asarray(counts @ self.components.T, dtype=np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(vectors / norms[:, None], dtype=np.float32)

    def save(self, folder: str | os.PathLike) -> None:
        out = Path(folder)
        write_lines(self.vocabulary, out / "vocabulary.txt")
        write_npy(self.idf, out / "idf.npy")
        write_npy(self.components, out / "components.npy")
        write_lines(self.stop_words, out / "stop_words.txt")
        write_json(self.settings, out / "settings.json")

    @classmethod
    def load(cls, folder: str | os.PathLike) -> TfidfSvd:
        path = Path(folder)
        return cls(
            vocabulary=read_lines(path / "vocabulary.txt"),
            idf=np.load(path / "idf.npy"),
            components=np.load(path / "components.npy"),
            stop_words=read_lines(path / "stop_words.txt"),
            settings=read_json(path / "settings.json"),
        )


def _normalize_rows(matrix) -> None:
    """Divide each row of the CSR `matrix` by its L2 norm, in place (an empty row stays empty)."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(rows, weights=matrix.data**2, minlength=matrix.shape[0]))
    matrix.data /= norms[rows]


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
        TfidfSvd.fit([*documents, *extra_texts], params["tfidf_svd"]).save(out / TFIDF_SVD_DIR)
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
        meta = read_json(self.path / META_FILE)
        self.backend, self.batch_size = meta["backend"], meta.get("batch_size")
        self.dense_weight = float(meta.get("dense_weight", 1.0))
        lexical_dir = self.path / LEXICAL_DIR
        self.lexical = Lexical.load(lexical_dir) if lexical_dir.is_dir() else None
        if self.backend == "tfidf-svd":
            if not (self.path / TFIDF_SVD_DIR).is_dir():
                raise FileNotFoundError(
                    f"{self.path} has no {TFIDF_SVD_DIR}/ folder (an encoder saved by an older version of the "
                    "project, or an incomplete copy): rebuild it with `dvc repro`"
                )
            self._model = TfidfSvd.load(self.path / TFIDF_SVD_DIR)
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
            vectors = self._model.transform(texts)
        else:
            vectors = encode_unpadded(self._model, list(texts), self.batch_size)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def query_terms(self, texts: Sequence[str]):
        """BM25 query rows of `texts`, or None when the encoder is dense only."""
        return self.lexical.query_terms(list(texts)) if self.lexical else None


def length_batches(lengths: Sequence[int], texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Positions of `texts` in batches of at most `batch_size` that each hold a single token length.

    Batches follow (length, text) order, so which texts share a batch depends on
    the texts alone, never on the order they came in.
    """
    batches: list[list[int]] = []
    for position in sorted(range(len(texts)), key=lambda i: (lengths[i], texts[i])):
        last = batches[-1] if batches else None
        if last and lengths[last[0]] == lengths[position] and len(last) < batch_size:
            last.append(position)
        else:
            batches.append([position])
    return batches


def encode_unpadded(model, texts: list[str], batch_size: int) -> np.ndarray:
    """sentence-transformers vectors of `texts`, in batches of one token length each, so no text is padded.

    A padded row's last bits depend on its batch's longest text (attention sums
    run over more positions), so the same article would get other bytes in a full
    embed, an incremental one or on another worker. Unpadded, a vector depends on
    its text alone: the cache, the chunking and the Dask engine keep the bytes.
    """
    if len(texts) == 1:  # nothing to pad against (a query): skip tokenizing twice
        return model.encode(texts, batch_size=1, normalize_embeddings=True, show_progress_bar=False)
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # `tokenize` before sentence-transformers 6
    lengths = preprocess(texts)["attention_mask"].sum(dim=1).tolist()
    batches = length_batches(lengths, texts, batch_size)
    parts = [
        model.encode(
            [texts[i] for i in batch], batch_size=len(batch), normalize_embeddings=True, show_progress_bar=False
        )
        for batch in batches
    ]
    vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    for batch, part in zip(batches, parts, strict=True):
        vectors[batch] = part
    return vectors


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
