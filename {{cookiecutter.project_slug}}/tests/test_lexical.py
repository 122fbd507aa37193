import numpy as np

from {{ cookiecutter.package_name }}.io import read_csr, write_csr
from {{ cookiecutter.package_name }}.lexical import Lexical

BM25 = {"k1": 1.2, "b": 0.75, "stop_words": False}


def test_scores_are_bm25(texts):
    lexical = Lexical.fit(texts, BM25)
    scores = (lexical.query_terms(["refund payment payment"]) @ lexical.document_weights(texts).T).toarray()[0]
    # by hand, for the one article with both words: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), df = 1 each
    n, avgdl = len(texts), lexical.settings["avgdl"]
    length = len(texts[1].split())  # "please refund the duplicate payment on my card": 8 terms
    idf = np.log1p((n - 1 + 0.5) / 1.5)
    expected = 2 * idf * 1 * 2.2 / (1 + 1.2 * (1 - 0.75 + 0.75 * length / avgdl))
    assert np.isclose(scores[1], expected, rtol=1e-5)
    assert np.count_nonzero(scores) == 1  # a repeated query word counts once; unknown words score nothing


def test_a_saved_model_gives_the_same_rows_and_the_same_bytes(tmp_path, texts):
    lexical = Lexical.fit(texts, BM25)
    lexical.save(tmp_path / "model")
    loaded = Lexical.load(tmp_path / "model")
    assert (loaded.document_weights(texts) != lexical.document_weights(texts)).nnz == 0
    for name in ("a", "b"):
        write_csr(loaded.document_weights(texts), tmp_path / name)
    for file in (tmp_path / "a").iterdir():
        assert file.read_bytes() == (tmp_path / "b" / file.name).read_bytes()
    assert (read_csr(tmp_path / "a", mmap=True) != lexical.document_weights(texts)).nnz == 0
