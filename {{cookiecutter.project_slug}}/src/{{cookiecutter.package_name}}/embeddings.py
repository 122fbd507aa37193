"""Embedding with a content-hash keyed cache.

A document is re-embedded only when its text or the encoder changed: rows are
stored per encoder fingerprint and looked up by the SHA-256 of the text. Dense
vectors and BM25 rows are cached apart, each under the fingerprint of the part
of the encoder that makes it. The cache only saves time: with `tfidf-svd` and
BM25 a row does not depend on which texts were embedded alongside it, so the
outputs are the same with or without it. (A transformer's floats can differ in
the last bits with batch padding.)
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .encoders import Encoder
from .io import read_csr, read_lines, write_csr, write_lines, write_npy


@dataclass
class EmbeddingResult:
    vectors: np.ndarray
    terms: sp.csr_matrix | None  # BM25 rows, when the encoder is hybrid
    n_embedded: int
    n_reused: int


@dataclass(frozen=True)
class RowStore:
    """How one kind of row is kept in the cache: read, written, stacked."""

    name: str
    read: Callable[[Path], Any]
    write: Callable[[Any, Path], None]
    stack: Callable[[list[Any]], Any]


DENSE = RowStore("vectors.npy", np.load, write_npy, np.vstack)
SPARSE = RowStore("terms", read_csr, write_csr, lambda parts: sp.vstack(parts, format="csr"))


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_texts(encoder: Encoder, texts: Sequence[str], cache_dir: str | os.PathLike) -> EmbeddingResult:
    """Dense vectors (and BM25 rows, for a hybrid encoder) of `texts` in order, reusing cached rows."""
    keys = [text_key(t) for t in texts]
    cache = Path(cache_dir)
    vectors, n_embedded = cached_rows(encoder.encode, texts, keys, cache / encoder.fingerprint[:32], DENSE)
    terms = None
    if encoder.lexical is not None:
        folder = cache / f"bm25-{encoder.lexical_fingerprint[:32]}"
        terms, _ = cached_rows(encoder.lexical.document_weights, texts, keys, folder, SPARSE)
    n_reused = len(set(keys)) - n_embedded
    return EmbeddingResult(vectors=vectors, terms=terms, n_embedded=n_embedded, n_reused=n_reused)


def cached_rows(
    encode: Callable[[list[str]], Any], texts: Sequence[str], keys: list[str], folder: Path, store: RowStore
) -> tuple[Any, int]:
    """Rows of `encode(texts)` in order, encoding only texts whose key is not in `folder`; and how many were."""
    keys_file = folder / "keys.txt"
    cached_keys: list[str] = []
    cached = None
    if keys_file.exists() and (folder / store.name).exists():
        try:
            cached_keys, cached = read_lines(keys_file), store.read(folder / store.name)
            damage = (
                None if len(cached_keys) == cached.shape[0] else f"{len(cached_keys)} keys for {cached.shape[0]} rows"
            )
        except Exception as err:  # any unreadable entry (truncated, empty, not an array) is rebuilt
            damage = f"{type(err).__name__}: {err}"
        if damage:  # a damaged cache is rebuilt, never trusted
            print(f"embedding cache {folder} is unreadable ({damage}): rebuilding it", file=sys.stderr)
            cached_keys, cached = [], None
    row_of = {key: row for row, key in enumerate(cached_keys)}

    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in row_of}.items())
    if missing:
        fresh = encode([t for _, t in missing])
        cached = fresh if cached is None else store.stack([cached, fresh])
        for key, _ in missing:
            row_of[key] = len(cached_keys)
            cached_keys.append(key)
        folder.mkdir(parents=True, exist_ok=True)
        store.write(cached, folder / store.name)
        write_lines(cached_keys, keys_file)
    if not keys:
        return encode([]), 0
    return cached[np.array([row_of[k] for k in keys])], len(missing)
