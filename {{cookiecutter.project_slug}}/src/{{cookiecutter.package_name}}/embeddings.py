"""Embedding with a content-hash keyed cache.

A document is re-embedded only when its text or the encoder changed: rows are
stored per encoder fingerprint and looked up by the SHA-256 of the text, in
append-only segments (a run writes only the rows it adds). Dense
vectors and BM25 rows are cached apart, each under the fingerprint of the part
of the encoder that makes it. The cache only saves time: a row never depends
on which texts were embedded alongside it (`tfidf-svd` and BM25 work row by row;
sentence-transformers batches are never padded, see `encoders.encode_unpadded`),
so the outputs are the same with or without it, and on any `embed.engine`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
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


# Read memory-mapped: a run reads the rows it needs, not every cached row.
DENSE = RowStore("vectors.npy", lambda path: np.load(path, mmap_mode="r"), write_npy, np.vstack)
SPARSE = RowStore(
    "terms", lambda path: read_csr(path, mmap=True), write_csr, lambda parts: sp.vstack(parts, format="csr")
)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_texts(
    encoder: Encoder,
    texts: Sequence[str],
    cache_dir: str | os.PathLike,
    encode: Callable[[list[str]], np.ndarray] | None = None,
) -> EmbeddingResult:
    """Dense vectors (and BM25 rows, for a hybrid encoder) of `texts` in order, reusing cached rows.

    `encode` computes the dense vectors the cache lacks (default: `encoder.encode`
    in this process; `vector_engine` gives the one `embed.engine` selects).
    """
    keys = [text_key(t) for t in texts]
    cache = Path(cache_dir)
    encode = encode or encoder.encode
    vectors, n_embedded = cached_rows(encode, texts, keys, cache / encoder.fingerprint[:32], DENSE)
    terms = None
    if encoder.lexical is not None:
        folder = cache / f"bm25-{encoder.lexical_fingerprint[:32]}"
        terms, _ = cached_rows(encoder.lexical.document_weights, texts, keys, folder, SPARSE)
    n_reused = len(set(keys)) - n_embedded
    return EmbeddingResult(vectors=vectors, terms=terms, n_embedded=n_embedded, n_reused=n_reused)


@contextlib.contextmanager
def vector_engine(encoder: Encoder, settings: dict[str, Any]) -> Iterator[Callable[[list[str]], np.ndarray]]:
    """The `encode` of `embed.engine` (`settings` is the `embed` section): this process, or a Dask cluster."""
    if settings["engine"] == "local":
        yield encoder.encode
        return
    from .dask_engine import DaskEncode

    with DaskEncode(encoder, settings["dask"]) as encode:
        yield encode


def cached_rows(
    encode: Callable[[list[str]], Any], texts: Sequence[str], keys: list[str], folder: Path, store: RowStore
) -> tuple[Any, int]:
    """Rows of `encode(texts)` in order, encoding only texts whose key is not in `folder`; and how many were.

    The cache is a folder of segments, each a `keys.txt` and its rows; new rows
    go into a new segment, so a run that adds 1 % of the rows writes 1 %, not
    the whole cache again. Past `MAX_SEGMENTS` they are merged into one.
    """
    segments = read_segments(folder, store)
    where = row_numbers(segments)
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in where}.items())
    if missing:
        segments.append(([key for key, _ in missing], encode([text for _, text in missing])))
        if len(segments) > MAX_SEGMENTS:
            segments = [merge_segments(segments, store)]
            replace_segments(folder, segments[0], store)
        else:
            write_segment(folder, segments[-1], store)
        where = row_numbers(segments)
    if not keys:
        return encode([]), 0
    rows = np.fromiter((where[key] for key in keys), dtype=np.int64, count=len(keys))
    return gather(segments, rows, store), len(missing)


def row_numbers(segments: list[tuple[list[str], Any]]) -> dict[str, int]:
    """Each key's row, numbering the segments' rows one after the other; the first segment holding a key wins."""
    where: dict[str, int] = {}
    offsets = np.cumsum([0] + [len(keys) for keys, _ in segments])
    for number in reversed(range(len(segments))):  # later updates win: go from the last segment to the first
        where.update(zip(segments[number][0], range(offsets[number], offsets[number + 1]), strict=True))
    return where


MAX_SEGMENTS = 16  # segments read per run at most; more are merged into one
SEGMENT = "segment-"


def segment_dirs(folder: Path) -> list[Path]:
    """The cache's segments in the order they were written (the folder itself: a cache of one earlier segment)."""
    legacy = [folder] if (folder / "keys.txt").exists() else []
    return legacy + sorted(path for path in folder.glob(f"{SEGMENT}*") if path.is_dir())


def read_segments(folder: Path, store: RowStore) -> list[tuple[list[str], Any]]:
    """Every readable segment's keys and rows; a damaged segment is deleted, never trusted."""
    segments = []
    for path in segment_dirs(folder):
        try:
            keys, rows = read_lines(path / "keys.txt"), store.read(path / store.name)
            damage = None if len(keys) == rows.shape[0] else f"{len(keys)} keys for {rows.shape[0]} rows"
        except Exception as err:  # any unreadable entry (truncated, empty, not an array)
            damage = f"{type(err).__name__}: {err}"
        if damage:
            print(f"embedding cache {path} is unreadable ({damage}): its rows will be embedded again", file=sys.stderr)
            remove_segment(path, store)
            continue
        segments.append((keys, rows))
    return segments


def write_segment(folder: Path, segment: tuple[list[str], Any], store: RowStore) -> None:
    """Write a segment next to the others, whole or not at all (written aside, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(path.name[len(SEGMENT) :]) for path in folder.glob(f"{SEGMENT}*") if path.is_dir()]
    target = folder / f"{SEGMENT}{max(numbers, default=0) + 1:06d}"
    staging = folder / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    keys, rows = segment
    store.write(rows, staging / store.name)
    write_lines(keys, staging / "keys.txt")
    staging.rename(target)


def merge_segments(segments: list[tuple[list[str], Any]], store: RowStore) -> tuple[list[str], Any]:
    keys = [key for segment_keys, _ in segments for key in segment_keys]
    return keys, store.stack([rows for _, rows in segments])


def replace_segments(folder: Path, segment: tuple[list[str], Any], store: RowStore) -> None:
    """Write `segment`, then remove every older one."""
    old = segment_dirs(folder)
    write_segment(folder, segment, store)
    for path in old:
        remove_segment(path, store)


def remove_segment(path: Path, store: RowStore) -> None:
    for name in ("keys.txt", store.name):
        entry = path / name
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
    if path.name.startswith(SEGMENT):
        shutil.rmtree(path, ignore_errors=True)


def gather(segments: list[tuple[list[str], Any]], rows: np.ndarray, store: RowStore) -> Any:
    """The rows numbered `rows` (see `row_numbers`), in that order."""
    if len(segments) == 1:
        return segments[0][1][rows]
    offsets = np.cumsum([0] + [len(keys) for keys, _ in segments])
    segment = np.searchsorted(offsets, rows, side="right") - 1
    order = np.argsort(segment, kind="stable")  # grouped by segment, then put back in order
    pieces = [part[rows[order][segment[order] == n] - offsets[n]] for n, (_, part) in enumerate(segments)]
    return store.stack(pieces)[np.argsort(order, kind="stable")]
