"""Embedding with a content-hash keyed cache.

A document is re-embedded only when its text or the encoder changed: vectors
are stored per encoder fingerprint and looked up by the SHA-256 of the text.
The cache only saves time: with `tfidf-svd` a vector does not depend on which
texts were embedded alongside it, so the outputs are the same with or without
it. (A transformer's floats can differ in the last bits with batch padding.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encoders import Encoder
from .io import read_lines, write_lines, write_npy


@dataclass
class EmbeddingResult:
    vectors: np.ndarray
    n_embedded: int
    n_reused: int


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_texts(encoder: Encoder, texts: Sequence[str], cache_dir: str | os.PathLike) -> EmbeddingResult:
    """Embed `texts` in order, reusing cached vectors of the same encoder."""
    folder = Path(cache_dir) / encoder.fingerprint[:32]
    keys_file, vectors_file = folder / "keys.txt", folder / "vectors.npy"
    cached_keys: list[str] = []
    cached = np.zeros((0, 0), dtype=np.float32)
    if keys_file.exists() and vectors_file.exists():
        cached_keys = read_lines(keys_file)
        cached = np.load(vectors_file)
        if len(cached_keys) != len(cached):  # a damaged cache is rebuilt, never trusted
            cached_keys, cached = [], np.zeros((0, 0), dtype=np.float32)
    row_of = {key: row for row, key in enumerate(cached_keys)}

    keys = [text_key(t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in row_of}.items())
    if missing:
        fresh = encoder.encode([t for _, t in missing])
        cached = fresh if not len(cached) else np.vstack([cached, fresh])
        for key, _ in missing:
            row_of[key] = len(cached_keys)
            cached_keys.append(key)
        folder.mkdir(parents=True, exist_ok=True)
        write_npy(cached, vectors_file)
        write_lines(cached_keys, keys_file)

    vectors = cached[[row_of[k] for k in keys]] if keys else np.zeros((0, 0), dtype=np.float32)
    return EmbeddingResult(vectors=vectors, n_embedded=len(missing), n_reused=len(set(keys)) - len(missing))
