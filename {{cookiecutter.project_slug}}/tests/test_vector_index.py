import importlib.util

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.retrieval import exact_search
from {{ cookiecutter.package_name }}.vector_index import VectorIndex, build_index

BACKENDS = ["exact"] + (["hnsw"] if importlib.util.find_spec("faiss") else [])


def unit_vectors(n, dim, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_round_trips_and_finds_each_vector_itself(tmp_path, backend):
    vectors, ids = unit_vectors(300, 16), [f"KB{i:04d}" for i in range(300)]
    build_index(backend, ids, vectors, load_params()["index"]).save(tmp_path / "index")
    index = VectorIndex.load(tmp_path / "index")
    assert index.ids == ids
    assert index.search(vectors[:20], 1)[:, 0].tolist() == list(range(20))


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_input_gives_identical_index_bytes(tmp_path, backend):
    vectors, ids = unit_vectors(300, 16), [str(i) for i in range(300)]
    for name in ("a", "b"):
        build_index(backend, ids, vectors, load_params()["index"]).save(tmp_path / name)
    for file in (tmp_path / "a").iterdir():
        assert file.read_bytes() == (tmp_path / "b" / file.name).read_bytes()


def test_exact_backend_matches_brute_force():
    vectors, queries = unit_vectors(50, 8), unit_vectors(5, 8, seed=1)
    index = build_index("exact", [str(i) for i in range(50)], vectors, {})
    assert np.array_equal(index.search(queries, 5), exact_search(vectors, queries, 5))


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="index.backend must be one of exact, hnsw"):
        build_index("annoy", ["a"], unit_vectors(1, 4), {})
