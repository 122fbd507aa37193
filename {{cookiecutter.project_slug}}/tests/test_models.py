import pytest
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from {{ cookiecutter.package_name }}.models import UntrustedModelError, load_model, save_model


class Custom(BaseEstimator):
    """A type skops does not trust by default."""


def test_same_model_saves_to_identical_bytes(tmp_path, texts, labels):
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(random_state=0)).fit(texts, labels)
    save_model(model, tmp_path / "a.skops")
    save_model(model, tmp_path / "b.skops")
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()


def test_saved_model_loads_and_predicts_the_same(tmp_path, texts, labels):
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(random_state=0)).fit(texts, labels)
    save_model(model, tmp_path / "model.skops")
    assert list(load_model(tmp_path / "model.skops").predict(texts)) == list(model.predict(texts))


def test_a_pruned_vocabulary_is_saved_as_plain_ints(tmp_path, texts, labels):
    # max_features leaves numpy ints in vocabulary_, which skops would store one array each
    model = make_pipeline(TfidfVectorizer(max_features=20), LogisticRegression(random_state=0)).fit(texts, labels)
    save_model(model, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    assert {type(i) for i in loaded.steps[0][1].vocabulary_.values()} == {int}
    assert list(loaded.predict(texts)) == list(model.predict(texts))


def test_untrusted_types_are_refused_not_loaded(tmp_path):
    sio.dump(Custom(), tmp_path / "custom.skops")
    with pytest.raises(UntrustedModelError, match="Custom"):
        load_model(tmp_path / "custom.skops")
