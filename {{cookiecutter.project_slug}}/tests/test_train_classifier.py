"""`classifier.kind: sgd_streaming`: the out-of-core classifier, trained chunk by chunk.

What must hold whatever the chunk size: the IDF (summed document frequencies)
and so every ticket's features are exactly those of the whole split at once;
without shuffling, the chunk size only splits the stream SGD reads, so the model
is the same to rounding. With shuffling, the order is seeded: two runs give the
same bytes.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfTransformer

from {{ cookiecutter.package_name }}.io import read_csv_chunks
from {{ cookiecutter.package_name }}.models import load_model, save_model
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages.train_classifier import (
    balanced_weights,
    count_documents,
    fit_streaming,
    hashing_vectorizer,
    smooth_idf,
    train,
)

N_FEATURES = 2**12


@pytest.fixture
def train_set(texts, labels):
    """Three times the shared tickets, with a label that has fewer tickets than the others."""
    tickets = pd.DataFrame({"text": texts * 3, "label": labels * 3})
    return pd.concat([tickets, pd.DataFrame({"text": ["card declined at checkout"], "label": ["billing"]})])


@pytest.fixture
def settings():
    shipped = load_params()["classifier"]["sgd_streaming"]
    return {**shipped, "n_features": N_FEATURES, "epochs": 2, "shuffle": False}


def chunked(frame: pd.DataFrame, size: int):
    """A `chunks` callable for `fit_streaming`: `frame` in order, `size` rows at a time."""
    return lambda: (frame.iloc[start : start + size] for start in range(0, len(frame), size))


@pytest.mark.parametrize("sublinear_tf", [True, False])
@pytest.mark.parametrize("size", [1, 4, 1000])
def test_idf_from_summed_chunk_frequencies_is_tfidf_fitted_on_the_whole_split(train_set, settings, size, sublinear_tf):
    settings = {**settings, "sublinear_tf": sublinear_tf}
    classifier, n_tickets = fit_streaming(chunked(train_set, size), settings)
    counts = hashing_vectorizer(settings).transform(train_set["text"])
    whole = TfidfTransformer(sublinear_tf=sublinear_tf).fit(counts)
    assert n_tickets == len(train_set) == 25
    assert np.array_equal(classifier[1].idf_, whole.idf_)
    assert (classifier[:-1].transform(train_set["text"]) != whole.transform(counts)).nnz == 0
    assert classifier[1].n_features_in_ == N_FEATURES


def test_first_pass_counts_tickets_columns_and_labels_exactly(settings):
    chunks = [
        pd.DataFrame({"text": ["aa bb", "bb bb cc"], "label": ["x", "y"]}),
        pd.DataFrame({"text": ["cc"], "label": ["x"]}),
    ]
    hashing = hashing_vectorizer({**settings, "ngram_range": [1, 1]})
    n_documents, frequency, label_counts = count_documents(iter(chunks), hashing)
    column = {word: hashing.transform([word]).indices[0] for word in ("aa", "bb", "cc")}
    assert n_documents == 3
    assert [frequency[column[word]] for word in ("aa", "bb", "cc")] == [1, 2, 2]  # bb twice in one ticket counts once
    assert frequency.sum() == 5 and frequency.dtype == np.int64
    assert label_counts.to_dict() == {"x": 2, "y": 1}


def test_smooth_idf_follows_scikit_learns_formula():
    assert smooth_idf(3, np.array([0, 1, 3])).tolist() == [np.log(4) + 1, np.log(2) + 1, 1.0]


@pytest.mark.parametrize("size", [1, 7])
def test_without_shuffling_the_chunk_size_only_splits_the_stream(train_set, settings, size):
    whole, _ = fit_streaming(chunked(train_set, len(train_set)), settings)
    chunks, _ = fit_streaming(chunked(train_set, size), settings)
    assert np.allclose(chunks[-1].coef_, whole[-1].coef_, rtol=1e-9, atol=1e-12)
    assert np.allclose(chunks[-1].intercept_, whole[-1].intercept_, rtol=1e-9, atol=1e-12)
    assert chunks[-1].t_ == whole[-1].t_ == 1 + 2 * len(train_set)  # every ticket seen once per epoch
    assert list(chunks.predict(train_set["text"])) == list(whole.predict(train_set["text"]))


def test_shuffling_is_seeded_per_epoch_and_chunk(train_set, settings):
    settings = {**settings, "shuffle": True}
    first, _ = fit_streaming(chunked(train_set, 10), settings)
    again, _ = fit_streaming(chunked(train_set, 10), settings)
    in_order, _ = fit_streaming(chunked(train_set, 10), {**settings, "shuffle": False})
    other_seed, _ = fit_streaming(chunked(train_set, 10), {**settings, "seed": settings["seed"] + 1})
    assert np.array_equal(first[-1].coef_, again[-1].coef_)
    assert not np.allclose(first[-1].coef_, in_order[-1].coef_)
    assert not np.allclose(first[-1].coef_, other_seed[-1].coef_)


def test_the_model_file_is_byte_identical_and_loads_with_the_trusted_types(tmp_path, train_set, settings):
    settings = {**settings, "shuffle": True}
    for name in ("a.skops", "b.skops"):
        save_model(fit_streaming(chunked(train_set, 4), settings)[0], tmp_path / name)
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
    loaded = load_model(tmp_path / "a.skops")
    assert list(loaded.classes_) == sorted(set(train_set["label"]))
    probabilities = loaded.predict_proba(["I was charged twice", "the app crashes"])
    assert probabilities.shape == (2, 4) and np.allclose(probabilities.sum(axis=1), 1)


def test_balanced_weights_come_from_the_label_counts():
    assert balanced_weights(pd.Series({"a": 3, "b": 1})) == {"a": 4 / 6, "b": 2.0}


def test_balanced_class_weight_reaches_sgd(train_set, settings):
    classifier, _ = fit_streaming(chunked(train_set, 5), {**settings, "class_weight": "balanced"})
    plain, _ = fit_streaming(chunked(train_set, 5), settings)
    assert classifier[-1].class_weight["billing"] == pytest.approx(25 / (4 * 7))
    assert plain[-1].class_weight is None


def test_one_label_is_refused_in_one_line(settings):
    one_label = pd.DataFrame({"text": ["my card was charged twice", "refund please"], "label": ["billing"] * 2})
    with pytest.raises(StageError, match=r"^train.csv: training needs tickets of at least 2 labels, found 1$"):
        fit_streaming(chunked(one_label, 1), settings, "train.csv")


def test_chunks_are_read_in_order_as_text(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("id,text,label\n" + "".join(f"T{i},{1000 + i},{'ab'[i % 2]}\n" for i in range(8)))
    chunks = list(read_csv_chunks(path, ["text", "label"], 3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 2]
    assert list(chunks[0].columns) == ["text", "label"]
    assert pd.concat(chunks)["text"].tolist() == [str(1000 + i) for i in range(8)]  # digits stay text


def test_a_missing_column_is_refused_in_one_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("id,text\nT1,hello\n")
    with pytest.raises(StageError, match=r"train.csv: missing column\(s\) label \(found: id, text\)$"):
        next(read_csv_chunks(path, ["text", "label"], 10))


def test_a_file_that_is_not_csv_is_refused_in_one_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(b"text,label\n\xff\xfe broken,billing\n")
    with pytest.raises(StageError, match=r"train.csv cannot be read as a CSV file: .*utf-8"):
        list(read_csv_chunks(path, ["text", "label"], 10))


def test_train_picks_the_kind_from_params(tmp_path, train_set):
    path = tmp_path / "train.csv"
    train_set.to_csv(path, index=False)
    params = load_params()["classifier"]
    streaming = {**params["sgd_streaming"], "n_features": N_FEATURES, "chunk_size": 10, "epochs": 1}
    classifier, said = train({**params, "kind": "sgd_streaming", "sgd_streaming": streaming}, path)
    assert [name for name, _ in classifier.steps] == ["hashing", "tfidf", "model"]
    assert said == "sgd_streaming on 25 tickets, 1 epoch(s) of 10-ticket chunks"
    classifier, said = train({**params, "kind": "logistic", "min_df": 1}, path)
    assert [name for name, _ in classifier.steps] == ["tfidf", "model"] and said == "on 25 tickets"
