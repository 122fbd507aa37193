{% if cookiecutter.vector_index != "hnsw" -%}
import importlib.util

{% endif -%}
import numpy as np
import pytest
import scipy.sparse as sp

from {{ cookiecutter.package_name }}.lexical import Lexical
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.retrieval import overlap_at_k
from {{ cookiecutter.package_name }}.vector_index import VectorIndex, build_index

{% if cookiecutter.vector_index == "hnsw" -%}
BACKENDS = ["exact", "hnsw"]  # this project searches with faiss: without it these tests fail, they never skip
{%- else -%}
BACKENDS = ["exact"] + (["hnsw"] if importlib.util.find_spec("faiss") else [])  # hnsw too, where faiss is installed
{%- endif %}


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
    similarity = queries @ vectors.T
    rows, scores = index.search_scored(queries, 5)
    assert rows.tolist() == np.argsort(-similarity, axis=1, kind="stable")[:, :5].tolist()
    assert np.allclose(scores, np.take_along_axis(similarity, rows, axis=1), atol=1e-6)


def test_exact_hybrid_search_ranks_by_the_blend_of_z_scores():
    """The blend computed here by hand, from full score matrices: each weight gives its own ranking."""
    vectors, terms, queries, query_terms = hybrid_inputs()
    index = build_index("exact", [str(i) for i in range(len(vectors))], vectors, {}, terms)
    dense, lexical = queries @ vectors.T, (query_terms @ terms.T).toarray()

    def z(scores):
        std = scores.std(axis=1, keepdims=True)
        return (scores - scores.mean(axis=1, keepdims=True)) / np.where(std > 0, std, np.inf)

    rankings = []
    for weight in (0.0, 0.3, 0.7):
        blended = weight * z(dense) + (1 - weight) * z(lexical)
        rows, scores = index.search_scored(queries, 5, query_terms, weight)
        assert np.allclose(scores, np.take_along_axis(blended, rows, axis=1), atol=1e-4)
        assert np.allclose(scores, -np.sort(-blended, axis=1)[:, :5], atol=1e-4)
        rankings.append(rows.tolist())
    assert rankings[0] != rankings[1] != rankings[2]


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="index.backend must be one of exact, hnsw"):
        build_index("annoy", ["a"], unit_vectors(1, 4), {})


def hybrid_inputs(n=400, dim=16, seed=0):
    """Unit vectors and BM25 rows of `n` articles, each naming one code word, and queries for 40 of them."""
    words = [f"code{i}" for i in range(n)]
    articles = [f"{words[i]} " + " ".join(words[(i * 7 + j) % n] for j in range(1, 4)) for i in range(n)]
    lexical = Lexical.fit(articles, {"k1": 1.2, "b": 0.75, "stop_words": False})
    queries = [f"{words[i]} {words[(i + 1) % n]}" for i in range(0, n, 10)]
    query_vectors, query_terms = unit_vectors(len(queries), dim, seed + 1), lexical.query_terms(queries)
    return unit_vectors(n, dim, seed), lexical.document_weights(articles), query_vectors, query_terms


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_weight_one_is_dense_search_and_zero_is_bm25(backend):
    vectors, terms, queries, query_terms = hybrid_inputs()
    index = build_index(backend, [str(i) for i in range(len(vectors))], vectors, load_params()["index"], terms)
    assert np.array_equal(index.search(queries, 5, query_terms, 1.0), index.search(queries, 5))
    bm25 = (query_terms @ terms.T).toarray()
    best = index.search(queries, 1, query_terms, 0.0)[:, 0]
    assert np.array_equal(bm25[np.arange(len(best)), best], bm25.max(axis=1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_hybrid_index_round_trips_and_agrees_with_exact_blend(tmp_path, backend):
    vectors, terms, queries, query_terms = hybrid_inputs()
    ids = [str(i) for i in range(len(vectors))]
    build_index(backend, ids, vectors, load_params()["index"], terms).save(tmp_path / "index")
    index = VectorIndex.load(tmp_path / "index")
    exact = build_index("exact", ids, vectors, {}, terms)
    found, truth = index.search(queries, 10, query_terms, 0.3), exact.search(queries, 10, query_terms, 0.3)
    assert overlap_at_k(found, truth) >= 0.95


def test_a_query_without_known_words_falls_back_to_dense_order():
    vectors, terms, queries, _ = hybrid_inputs()
    index = build_index("exact", [str(i) for i in range(len(vectors))], vectors, {}, terms)
    no_terms = sp.csr_matrix((len(queries), terms.shape[1]), dtype=np.float32)
    assert np.array_equal(index.search(queries, 5, no_terms, 0.3), index.search(queries, 5))


@pytest.mark.skipif("hnsw" not in BACKENDS, reason="faiss is not installed (the hnsw option installs it)")
def test_hnsw_visits_a_fraction_of_a_large_corpus_and_finds_the_exact_neighbours():
    """More articles than ef_search, so the graph cannot scan everything: recall is measured, not given."""
    import faiss

    vectors, queries = unit_vectors(4000, 16), unit_vectors(50, 16, seed=1)
    params = {"hnsw": {"m": 16, "ef_construction": 64, "ef_search": 32}}
    index = build_index("hnsw", [str(i) for i in range(len(vectors))], vectors, params)
    faiss.cvar.hnsw_stats.reset()
    found = index.search(queries, 10)
    assert faiss.cvar.hnsw_stats.ndis < 0.25 * len(vectors) * len(queries)  # far from an exhaustive scan
    truth = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    assert overlap_at_k(found, truth) >= 0.95
