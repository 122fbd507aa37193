"""Embedding on a Dask cluster (`embed.engine: dask`).

The stage stays the owner of its outputs. It decides which texts need vectors
(those the cache lacks), splits them into fixed chunks of `embed.dask.chunk_size`,
and writes every output and cache segment itself. Workers only compute vectors:
each receives the encoder once (scattered), encodes a chunk on one thread, and
returns its rows. The driver puts each chunk back at its index, so the bytes do
not depend on the worker count, the chunk size or the order chunks finish in.

The cluster is the one at `DASK_SCHEDULER_ADDRESS` when that is set (any Dask
cluster: Kubernetes, HPC, another machine), else a `LocalCluster` of
`embed.dask.workers` processes with one thread each, listening on 127.0.0.1 only
and without a dashboard. It is started only when some text needs a vector.

A worker that dies is replaced by Dask, which runs its chunks again; when the
computation fails anyway (every worker gone, a chunk that kills each worker it
runs on, no chunk back within `embed.dask.timeout_s` seconds), the stage stops
with one line before anything is written.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .runner import StageError, one_thread

SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
INSTALL_HINT = "pip install -e '.[dask]'"


def chunk_bounds(n_texts: int, chunk_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each chunk of `n_texts` texts, in order; every chunk holds `chunk_size` texts but the last."""
    if chunk_size < 1:
        raise ValueError(f"embed.dask.chunk_size must be at least 1, not {chunk_size}")
    return [(start, min(start + chunk_size, n_texts)) for start in range(0, n_texts, chunk_size)]


def assemble(parts: dict[int, np.ndarray], n_chunks: int) -> np.ndarray:
    """The rows of chunks 0 .. n_chunks-1 one after the other, however the chunks arrived."""
    missing = sorted(set(range(n_chunks)) - set(parts))
    if missing or len(parts) != n_chunks:
        raise StageError(f"the Dask cluster returned {len(parts)} of {n_chunks} chunks (missing: {missing[:5]})")
    return np.concatenate([parts[number] for number in range(n_chunks)])


def encode_chunk(encoder: Any, texts: list[str]) -> np.ndarray:
    """What a worker runs: one chunk's vectors, on one thread as in the stage's own process."""
    with one_thread():
        if "torch" in sys.modules:  # torch read its thread count before one_thread set the variables
            sys.modules["torch"].set_num_threads(1)
        return encoder.encode(texts)


def vectors_only(encoder: Any) -> Any:
    """A copy of the encoder without its BM25 model: what workers need to compute dense vectors."""
    worker_copy = copy.copy(encoder)
    worker_copy.lexical = None
    return worker_copy


def import_distributed():
    """The `distributed` package, or one line that names the extra to install."""
    try:
        import distributed
    except ImportError:
        raise ImportError(
            f"embed.engine is 'dask' but the distributed package is not installed: {INSTALL_HINT}"
        ) from None
    return distributed


class DaskEncode:
    """`encode(texts)` computed on a Dask cluster, connected on first use; a context manager that closes it."""

    def __init__(self, encoder: Any, settings: dict[str, Any]):
        self.encoder, self.settings = encoder, settings
        self.client = self.cluster = None
        self.distributed = import_distributed()  # fail before any work, not at the first missing text

    def connect(self):
        if self.client is None:
            import dask

            distributed = self.distributed
            logging.getLogger("distributed").setLevel(logging.ERROR)  # a lost worker is handled here, in one line
            address = os.environ.get(SCHEDULER_VARIABLE)
            try:
                if address:  # waits distributed.comm.timeouts.connect (Dask's config, 30 s by default)
                    self.client = distributed.Client(address)
                else:
                    # the workers' sampling profiler feeds a dashboard this cluster does not have; it slowed
                    # sentence-transformers chunks here by a third
                    dask.config.set({"distributed.worker.profile.enabled": False})
                    self.cluster = distributed.LocalCluster(
                        n_workers=self.settings["workers"],
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,  # no web server
                    )
                    self.client = distributed.Client(self.cluster)
            except Exception as err:  # refused, timed out, a LocalCluster that could not start its workers
                raise StageError(f"cannot reach the Dask cluster ({self.where}): {one_line(err)}") from None
        return self.client

    @property
    def where(self) -> str:
        return os.environ.get(SCHEDULER_VARIABLE) or "a LocalCluster on 127.0.0.1"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.encoder.encode([])
        client = self.connect()
        bounds = chunk_bounds(len(texts), self.settings["chunk_size"])
        texts = list(texts)
        try:
            timeout = self.settings["timeout_s"]
            model = client.scatter(vectors_only(self.encoder), broadcast=True, hash=False, timeout=timeout)
            chunks = [texts[start:stop] for start, stop in bounds]
            futures = client.map(encode_chunk, [model] * len(chunks), chunks, pure=False)
            parts = self.collect({future: number for number, future in enumerate(futures)})
        except StageError:
            raise
        except Exception as err:  # KilledWorker, lost data, a worker's own error: all end the stage the same way
            message = f"the Dask cluster ({self.where}) failed to embed {len(texts)} texts: {one_line(err)}"
            raise StageError(message) from None
        return assemble(parts, len(bounds))

    def collect(self, futures: dict[Any, int]) -> dict[int, np.ndarray]:
        """Each chunk's rows by chunk number, in whatever order they finish; fail when none arrives in time."""
        parts: dict[int, np.ndarray] = {}
        pending = set(futures)
        timeout = self.settings["timeout_s"]
        while pending:
            try:
                done, pending = self.distributed.wait(pending, timeout=timeout, return_when="FIRST_COMPLETED")
                for future in done:  # fetched from the worker that holds it, which may hang too
                    parts[futures[future]] = future.result(timeout=timeout)
                    future.release()  # its rows now live here only
            except TimeoutError:
                workers = len(self.client.scheduler_info()["workers"])
                raise StageError(
                    f"the Dask cluster ({self.where}) returned no chunk in {timeout} s ({len(futures) - len(parts)} "
                    f"of {len(futures)} left, workers connected: {workers}): check the cluster, or raise "
                    "embed.dask.timeout_s for slower chunks"
                ) from None
        return parts

    def __enter__(self) -> DaskEncode:
        return self

    def __exit__(self, *exc) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                part.close()


MAX_MESSAGE = 300  # Dask's errors can list every lost task


def one_line(err: BaseException) -> str:
    """An exception as one line of text, cut at `MAX_MESSAGE` characters."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
