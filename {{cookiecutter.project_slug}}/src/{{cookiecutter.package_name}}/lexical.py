"""BM25 term weights: the exact-word half of hybrid retrieval.

Dense vectors find paraphrases but blur the rare, exact words a search often
hinges on (an error code, a product or function name). BM25 scores those. The
model is fitted on the knowledge base (document frequencies and mean length);
an article becomes a sparse row of BM25 term weights, a query a 0/1 row of the
terms it contains, and their dot product is the article's BM25 score.

A fitted model is a folder of plain files, no pickle: `vocabulary.txt` (one
term per line, in column order), `idf.npy` and `lexical.json` (settings).
Fitting uses scikit-learn's CountVectorizer; applying the model counts words
with `tokens.py`, which splits them the same way without importing it. Terms
are single words, and stop words are never in the vocabulary, so counting the
known words of a text is all a transform needs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .io import canonical_csr, read_json, read_lines, write_json, write_lines, write_npy
from .tokens import FIT_CHECK_ROWS, count_matrix


class Lexical:
    """A fitted BM25 model (Robertson-Sparck Jones idf, saturation `k1`, length normalisation `b`)."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray, settings: dict[str, Any]):
        self.vocabulary, self.idf, self.settings = vocabulary, idf.astype(np.float32), settings
        self._columns = {term: column for column, term in enumerate(vocabulary)}

    @classmethod
    def fit(cls, documents: Sequence[str], params: dict[str, Any]) -> Lexical:
        """Learn the vocabulary, idf and mean document length of `documents` (the KB)."""
        from sklearn.feature_extraction.text import CountVectorizer

        vectorizer = CountVectorizer(stop_words="english" if params["stop_words"] else None, dtype=np.float32)
        counts = vectorizer.fit_transform(documents).tocsr()
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        settings = {
            "k1": float(params["k1"]),
            "b": float(params["b"]),
            "stop_words": bool(params["stop_words"]),
            "avgdl": round(float(counts.sum()) / max(1, n_docs), 6),
        }
        model = cls(vectorizer.get_feature_names_out().tolist(), idf, settings)
        if (model.counts(documents[:FIT_CHECK_ROWS]) != counts[:FIT_CHECK_ROWS]).nnz:
            raise ValueError("the BM25 model's word counts differ from scikit-learn's on the texts it was fitted on")
        return model

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """How often each vocabulary word occurs in each text, as float32 sparse rows."""
        return count_matrix(texts, self._columns, dtype=np.float32)

    def document_weights(self, texts: Sequence[str]) -> sp.csr_matrix:
        """BM25 term weights of `texts` as documents: one sparse float32 row per text."""
        counts = self.counts(texts)
        k1, b, avgdl = self.settings["k1"], self.settings["b"], self.settings["avgdl"]
        lengths = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
        norm = k1 * (1 - b + b * lengths / max(avgdl, 1e-9))
        tf = counts.data
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        counts.data = self.idf[counts.indices] * tf * (k1 + 1) / (tf + norm[rows])
        return canonical_csr(counts)

    def query_terms(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The known terms of each query as a 0/1 row (a repeated word counts once)."""
        terms = self.counts(texts)
        terms.data[:] = 1.0
        return canonical_csr(terms)

    def save(self, folder: str | os.PathLike) -> None:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        write_lines(self.vocabulary, out / "vocabulary.txt")
        write_npy(self.idf, out / "idf.npy")
        write_json(self.settings, out / "lexical.json")

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Lexical:
        path = Path(folder)
        return cls(read_lines(path / "vocabulary.txt"), np.load(path / "idf.npy"), read_json(path / "lexical.json"))
