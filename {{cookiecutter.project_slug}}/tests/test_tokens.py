import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.encoders import Encoder, TfidfSvd, build_encoder
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.tokens import analyze, count_matrix

# Texts where a home-made tokenizer usually parts ways with scikit-learn's.
TRICKY = [
    "Reset the VPN password, then re-login: error E-4021 (again!)",
    "Café crème, naïve façade, ÅNGSTRÖM über straße",
    "snake_case_name and CamelCase and x y z a1 b2 42 4",
    "don't can't won't it's the o'clock",
    "",
    "the and of to a",  # stop words only
    "日本語のテキスト 中文 текст на русском ελληνικά",
    "tab\tseparated\nnew line  double  space",
    "repeat repeat repeat Repeat REPEAT",
]
ARTICLES = [f"article about the {word} of the vpn" for word in ("login", "invoice", "printer", "refund", "laptop")]


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 3)])
@pytest.mark.parametrize("stop_words", [None, "english"])
def test_counts_equal_scikit_learns(ngram_range, stop_words):
    vectorizer = CountVectorizer(ngram_range=ngram_range, stop_words=stop_words).fit(TRICKY)
    expected = vectorizer.transform(TRICKY)
    ours = count_matrix(TRICKY, vectorizer.vocabulary_, vectorizer.get_stop_words() or (), ngram_range)
    assert ours.shape == expected.shape
    assert (ours != expected).nnz == 0
    assert ours.has_sorted_indices


def test_analyze_lowercases_drops_one_letter_tokens_and_stop_words_before_ngrams():
    assert analyze("Reset THE Password a b", stop_words={"the"}) == ["reset", "password"]
    # the stop word goes first, so "reset password" is a bigram
    assert analyze("reset the password", {"the"}, (1, 2)) == ["reset", "password", "reset password"]
    assert analyze("one two three", (), (2, 2)) == ["one two", "two three"]


def test_unknown_words_count_nothing_and_empty_texts_give_empty_rows():
    counts = count_matrix(["zebra zebra", "", "known known zebra"], {"known": 0, "other": 1})
    assert counts.shape == (3, 2)
    assert counts.toarray().tolist() == [[0, 0], [0, 0], [2, 0]]


def encoder_params(**tfidf_svd):
    params = load_params()["encoder"]
    return {**params["tfidf_svd"], "n_components": 4, **tfidf_svd}


def test_tfidf_svd_arrays_encode_like_the_scikit_learn_pipeline_and_reload_the_same(tmp_path):
    texts = [f"ticket {i} about {topic} and {topic} settings" for i in range(12) for topic in ("vpn", "invoice")]
    texts += TRICKY
    encoder = TfidfSvd.fit(texts, encoder_params())
    vectors = encoder.transform(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), 4)
    norms = np.linalg.norm(vectors, axis=1)
    # texts with no known word (empty, stop words only) stay zero vectors, the rest are unit length
    assert np.allclose(norms[norms > 0], 1, atol=1e-6) and (norms == 0).sum() == 2
    encoder.save(tmp_path / "tfidf")
    again = TfidfSvd.load(tmp_path / "tfidf")
    assert again.transform(texts).tobytes() == vectors.tobytes()


def test_an_encoder_folder_without_its_arrays_is_refused_in_one_line(tmp_path):
    params = load_params()["encoder"]
    params = {**params, "tfidf_svd": encoder_params()}
    build_encoder("tfidf-svd", ARTICLES, params, tmp_path / "encoder")
    (tmp_path / "encoder" / "tfidf_svd" / "components.npy").unlink()
    with pytest.raises(FileNotFoundError, match="components.npy"):
        Encoder(tmp_path / "encoder")
    for file in (tmp_path / "encoder" / "tfidf_svd").iterdir():
        file.unlink()
    (tmp_path / "encoder" / "tfidf_svd").rmdir()
    with pytest.raises(FileNotFoundError, match="has no tfidf_svd/ folder"):
        Encoder(tmp_path / "encoder")


def test_applying_an_encoder_imports_neither_scikit_learn_nor_skops(tmp_path):
    # embed, index and the service pay for no model library: the encoder is plain arrays
    params = load_params()["encoder"]
    params = {**params, "tfidf_svd": encoder_params()}
    build_encoder("tfidf-svd", ARTICLES, params, tmp_path / "encoder")
    script = (
        "import sys\n"
        "from {{ cookiecutter.package_name }}.stages import embed, index\n"
        "from {{ cookiecutter.package_name }}.encoders import Encoder\n"
        f"encoder = Encoder({str(tmp_path / 'encoder')!r})\n"
        "encoder.encode(['vpn login']); encoder.query_terms(['vpn login'])\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'sklearn', 'skops'}))\n"
    )
    source = Path({{ cookiecutter.package_name }}.__file__).parents[1]  # the code beside these tests
    env = {**os.environ, "PYTHONPATH": str(source)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
