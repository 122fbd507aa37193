"""The Dask engine's own logic, without a cluster: chunks, their reassembly, unpadded batches, the missing extra.

The engine on real clusters (same bytes as local, a killed worker, every worker
gone) is tested where a cluster is started: the template's tests/test_dask.py.
"""

import sys

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import dask_engine
from {{ cookiecutter.package_name }}.dask_engine import assemble, chunk_bounds, encode_chunk, one_line, vectors_only
from {{ cookiecutter.package_name }}.embeddings import embed_texts, vector_engine
from {{ cookiecutter.package_name }}.encoders import length_batches
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.runner import StageError


@pytest.mark.parametrize(
    ("n_texts", "chunk_size", "bounds"),
    [
        (10, 3, [(0, 3), (3, 6), (6, 9), (9, 10)]),
        (9, 3, [(0, 3), (3, 6), (6, 9)]),
        (3, 5, [(0, 3)]),
        (5, 5, [(0, 5)]),
        (4, 1, [(0, 1), (1, 2), (2, 3), (3, 4)]),
        (0, 4, []),
    ],
)
def test_chunks_cover_every_text_once_in_order(n_texts, chunk_size, bounds):
    assert chunk_bounds(n_texts, chunk_size) == bounds


def test_a_chunk_size_below_one_is_refused():
    with pytest.raises(ValueError, match="chunk_size must be at least 1, not 0"):
        chunk_bounds(5, 0)


def test_chunks_are_put_back_in_chunk_order_whatever_order_they_finished_in():
    parts = {2: np.array([[5.0], [6.0]]), 0: np.array([[1.0], [2.0]]), 1: np.array([[3.0], [4.0]])}
    assert assemble(parts, 3).ravel().tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


@pytest.mark.parametrize("parts", [{0: np.ones((1, 1)), 2: np.ones((1, 1))}, {0: np.ones((1, 1))}])
def test_a_missing_chunk_is_an_error_never_a_shorter_output(parts):
    with pytest.raises(StageError, match="returned 2 of 3 chunks|returned 1 of 3 chunks"):
        assemble(parts, 3)


def test_batches_hold_one_token_length_each_in_text_order_and_at_most_batch_size():
    texts = ["d", "b", "a", "c", "e"]
    lengths = [3, 2, 3, 3, 2]
    assert length_batches(lengths, texts, 2) == [[1, 4], [2, 3], [0]]
    assert length_batches(lengths, texts, 3) == [[1, 4], [2, 3, 0]]
    assert length_batches(lengths, texts, 1) == [[1], [4], [2], [3], [0]]
    assert length_batches([], [], 4) == []


def test_batches_depend_on_the_texts_not_on_their_order():
    texts = ["refund", "login", "parcel", "crash", "invoice"]
    lengths = [4, 4, 5, 4, 5]
    batches = [[texts[i] for i in batch] for batch in length_batches(lengths, texts, 2)]
    backwards = [[texts[::-1][i] for i in batch] for batch in length_batches(lengths[::-1], texts[::-1], 2)]
    assert batches == backwards == [["crash", "login"], ["refund"], ["invoice", "parcel"]]


def test_a_worker_computes_the_bytes_of_the_local_encoder_and_gets_no_bm25_model(tmp_path, texts, make_encoder):
    encoder = make_encoder(tmp_path, texts)
    worker_copy = vectors_only(encoder)
    assert worker_copy.lexical is None and encoder.lexical is not None
    assert encode_chunk(worker_copy, texts[2:5]).tobytes() == encoder.encode(texts)[2:5].tobytes()


def test_the_local_engine_is_the_encoder_itself(tmp_path, texts, make_encoder):
    encoder = make_encoder(tmp_path, texts)
    with vector_engine(encoder, {**load_params()["embed"], "engine": "local"}) as encode:
        assert encode == encoder.encode


def test_the_dask_engine_without_distributed_names_the_extra_and_writes_nothing(
    tmp_path, texts, monkeypatch, make_encoder
):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as in a project installed without the extra
    encoder = make_encoder(tmp_path, texts)
    settings = {**load_params()["embed"], "engine": "dask"}
    with pytest.raises(ImportError) as error, vector_engine(encoder, settings) as encode:
        embed_texts(encoder, texts, tmp_path / "cache", encode)
    assert str(error.value) == (
        "embed.engine is 'dask' but the distributed package is not installed: pip install -e '.[dask]'"
    )
    assert not (tmp_path / "cache").exists()


def test_an_exception_becomes_one_short_line():
    assert one_line(RuntimeError("worker\n  died   twice")) == "RuntimeError: worker died twice"
    exact = "x" * (dask_engine.MAX_MESSAGE - len("OSError: "))
    assert one_line(OSError(exact)) == f"OSError: {exact}"
    cut = one_line(OSError(exact + "y"))
    assert len(cut) == dask_engine.MAX_MESSAGE and cut.endswith("xx...")


def test_the_engine_starts_no_cluster_when_nothing_needs_a_vector(tmp_path, texts, make_encoder):
    encoder = make_encoder(tmp_path, texts)
    engine = dask_engine.DaskEncode(encoder, load_params()["embed"]["dask"])
    assert engine([]).shape == (0, 0) and engine.client is None and engine.cluster is None
