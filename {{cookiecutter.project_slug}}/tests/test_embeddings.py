import numpy as np
import pytest

from {{ cookiecutter.package_name }} import embeddings
from {{ cookiecutter.package_name }}.embeddings import embed_texts
from {{ cookiecutter.package_name }}.encoders import Encoder, build_encoder
from {{ cookiecutter.package_name }}.params import load_params


def test_vectors_are_unit_length_float32(tmp_path, texts, make_encoder):
    vectors = make_encoder(tmp_path, texts).encode(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), 4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_only_new_or_changed_texts_are_embedded_again(tmp_path, texts, make_encoder):
    encoder = make_encoder(tmp_path, texts)
    first = embed_texts(encoder, texts, tmp_path / "cache")
    assert (first.n_embedded, first.n_reused) == (len(texts), 0)

    changed = texts[:-1] + ["a brand new article about invoices"]
    second = embed_texts(encoder, changed, tmp_path / "cache")
    assert (second.n_embedded, second.n_reused) == (1, len(texts) - 1)
    assert np.array_equal(second.vectors[:-1], first.vectors[:-1])
    assert np.array_equal(second.vectors[-1], encoder.encode(changed[-1:])[0])


def test_a_different_encoder_does_not_reuse_vectors(tmp_path, texts, make_encoder):
    encoder = make_encoder(tmp_path / "one", texts)
    embed_texts(encoder, texts, tmp_path / "cache")
    other = make_encoder(tmp_path / "two", texts + ["more vocabulary changes the model"])
    assert embed_texts(other, texts, tmp_path / "cache").n_embedded == len(texts)


def test_bm25_rows_are_cached_and_a_new_blend_weight_reuses_every_row(tmp_path, texts, make_encoder):
    encoder = make_encoder(tmp_path / "one", texts)
    first = embed_texts(encoder, texts, tmp_path / "cache")
    assert first.terms.shape[0] == len(texts)
    assert (first.terms != encoder.lexical.document_weights(texts)).nnz == 0
    params = load_params()["encoder"]
    params["tfidf_svd"] = {**params["tfidf_svd"], "n_components": 4, "stop_words": False}
    params["hybrid"] = {**params["hybrid"], "dense_weight": 0.9}
    build_encoder("tfidf-svd", texts, params, tmp_path / "two")
    other = Encoder(tmp_path / "two")
    computed = []

    def spy(batch):
        computed.extend(batch)
        return encoder.lexical.document_weights(batch)

    other.lexical.document_weights = spy  # what the cache leaves to compute, and nothing else
    again = embed_texts(other, texts, tmp_path / "cache")
    assert computed == [] and again.n_embedded == 0 and (again.terms != first.terms).nnz == 0
    assert len(list((tmp_path / "cache").glob("bm25-*"))) == 1  # one BM25 model, one cache folder
    new = embed_texts(other, [*texts, "a new article about refunds"], tmp_path / "cache")
    assert computed == ["a new article about refunds"] and new.terms.shape[0] == len(texts) + 1


def test_dense_weight_outside_zero_to_one_is_refused(tmp_path, texts):
    params = load_params()["encoder"]
    params["hybrid"] = {**params["hybrid"], "dense_weight": 1.5}
    with pytest.raises(ValueError, match="encoder.hybrid.dense_weight must be between 0 and 1"):
        build_encoder("tfidf-svd", texts, params, tmp_path / "encoder")


def test_sentence_transformers_needs_a_local_model_folder(tmp_path, texts):
    params = load_params()["encoder"]
    params["sentence_transformers"] = {"model_path": str(tmp_path / "absent"), "batch_size": 8}
    with pytest.raises(FileNotFoundError, match="model folder .* not found"):
        build_encoder("sentence-transformers", texts, params, tmp_path / "encoder")
{%- if cookiecutter.embedding_backend == "sentence-transformers" %}


def test_the_sentence_transformers_backend_is_installed():
    """This project embeds with sentence-transformers: a missing package fails here, it is never skipped."""
    import importlib.util

    assert importlib.util.find_spec("sentence_transformers"), "pip install -e '.[sentence-transformers]'"
{%- endif %}


def dense_segments(cache):
    return sorted(cache.glob("*/segment-*/vectors.npy"))


def test_new_rows_go_to_a_new_segment_and_old_ones_are_not_rewritten(tmp_path, texts, make_encoder):
    encoder = make_encoder(tmp_path, texts)
    cache = tmp_path / "cache"
    first = embed_texts(encoder, texts[:5], cache)
    (segment,) = dense_segments(cache)
    before = segment.stat().st_mtime_ns, segment.read_bytes()
    more = embed_texts(encoder, texts, cache)
    assert (more.n_embedded, more.n_reused) == (len(texts) - 5, 5)
    assert len(dense_segments(cache)) == 2
    assert (segment.stat().st_mtime_ns, segment.read_bytes()) == before
    assert np.array_equal(more.vectors[:5], first.vectors)
    assert more.vectors.tobytes() == encoder.encode(texts).tobytes()  # the cache never changes the bytes


def test_segments_past_the_limit_are_merged_into_one_and_give_the_same_rows(tmp_path, texts, monkeypatch, make_encoder):
    monkeypatch.setattr(embeddings, "MAX_SEGMENTS", 3)
    encoder = make_encoder(tmp_path, texts)
    cache = tmp_path / "cache"
    for n in range(1, 4):
        embed_texts(encoder, texts[:n], cache)
    assert len(dense_segments(cache)) == 3
    merged = embed_texts(encoder, texts[:4], cache)
    assert len(dense_segments(cache)) == 1 and merged.n_embedded == 1
    again = embed_texts(encoder, list(reversed(texts[:4])), cache)
    assert again.n_embedded == 0
    assert again.vectors.tobytes() == encoder.encode(list(reversed(texts[:4]))).tobytes()


def test_a_damaged_segment_is_dropped_and_only_its_rows_are_embedded_again(tmp_path, texts, capsys, make_encoder):
    encoder = make_encoder(tmp_path, texts)
    cache = tmp_path / "cache"
    embed_texts(encoder, texts[:3], cache)
    embed_texts(encoder, texts[:5], cache)
    first, second = dense_segments(cache)
    second.write_bytes(b"")  # e.g. a disk that filled up while it was written
    healed = embed_texts(encoder, texts[:5], cache)
    assert (healed.n_embedded, healed.n_reused) == (2, 3)
    assert "is unreadable" in capsys.readouterr().err
    assert healed.vectors.tobytes() == encoder.encode(texts[:5]).tobytes()
    assert first.exists() and len(dense_segments(cache)) == 2


def test_a_cache_in_the_earlier_single_file_layout_is_read_then_merged_away(tmp_path, texts, monkeypatch, make_encoder):
    encoder = make_encoder(tmp_path, texts)
    folder = tmp_path / "cache" / encoder.fingerprint[:32]
    folder.mkdir(parents=True)
    keys = [embeddings.text_key(text) for text in texts[:4]]
    embeddings.write_lines(keys, folder / "keys.txt")
    embeddings.write_npy(encoder.encode(texts[:4]), folder / "vectors.npy")
    reused = embed_texts(encoder, texts[:4], tmp_path / "cache")
    assert reused.n_embedded == 0
    monkeypatch.setattr(embeddings, "MAX_SEGMENTS", 1)
    embed_texts(encoder, texts[:6], tmp_path / "cache")
    assert not (folder / "keys.txt").exists() and len(dense_segments(tmp_path / "cache")) == 1
