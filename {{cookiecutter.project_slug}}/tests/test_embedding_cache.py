import numpy as np

from {{ cookiecutter.package_name }} import embeddings
from {{ cookiecutter.package_name }}.embeddings import embed_texts
from {{ cookiecutter.package_name }}.encoders import Encoder, build_encoder
from {{ cookiecutter.package_name }}.params import load_params


def make_encoder(tmp_path, texts):
    params = load_params()["encoder"]
    params["tfidf_svd"] = {**params["tfidf_svd"], "n_components": 4, "stop_words": False}
    build_encoder("tfidf-svd", texts, params, tmp_path / "encoder")
    return Encoder(tmp_path / "encoder")


def dense_segments(cache):
    return sorted(cache.glob("*/segment-*/vectors.npy"))


def test_new_rows_go_to_a_new_segment_and_old_ones_are_not_rewritten(tmp_path, texts):
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


def test_segments_past_the_limit_are_merged_into_one_and_give_the_same_rows(tmp_path, texts, monkeypatch):
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


def test_a_damaged_segment_is_dropped_and_only_its_rows_are_embedded_again(tmp_path, texts, capsys):
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


def test_a_cache_in_the_earlier_single_file_layout_is_read_then_merged_away(tmp_path, texts, monkeypatch):
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
