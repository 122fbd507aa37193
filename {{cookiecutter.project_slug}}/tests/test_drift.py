import pandas as pd
import pytest
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import make_pipeline

from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages.drift import (
    chi2_check,
    markdown_summary,
    oov_rate,
    read_batch,
    svg_bars,
    vocabulary_of,
)
from {{ cookiecutter.package_name }}.stages.sample_incoming import SHIFTS, generate_incoming
from {{ cookiecutter.package_name }}.stages.train_classifier import fit_streaming


@pytest.fixture
def settings():
    return {**load_params()["data"]["incoming"], "n_tickets": 200}


def test_same_settings_give_identical_batches_and_ids_apart_from_training(settings):
    first, second = generate_incoming(settings, 0.04), generate_incoming(settings, 0.04)
    assert first.to_csv() == second.to_csv()
    assert first["id"].str.startswith(f"B{settings['seed']}-").all() and first["id"].is_unique


@pytest.mark.parametrize("kind", [s for s in SHIFTS if s != "none"])
def test_each_shift_changes_its_share_of_the_batch_only(settings, kind):
    base = generate_incoming({**settings, "shift": "none"}, 0.04)
    shifted = generate_incoming({**settings, "shift": kind, "share": 0.3}, 0.04)
    changed = (base != shifted).any(axis=1)
    assert changed.sum() == pytest.approx(0.3 * len(base), abs=len(base) * 0.05)
    assert (base["id"] == shifted["id"]).all()


def test_an_unknown_shift_is_refused(settings):
    with pytest.raises(ValueError, match="data.incoming.shift"):
        generate_incoming({**settings, "shift": "sideways"}, 0.04)


def test_chi2_counts_values_never_seen():
    check = chi2_check(pd.Series(["email"] * 90 + ["fax"] * 10), pd.Series(["email", "chat"] * 50), 0.001, "train")
    assert check["unseen"] == {"fax": 10} and check["detected"] and check["psi"] > 0


def test_bad_batches_are_refused_in_one_line(tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("id,text\nB1,hello\n")
    with pytest.raises(StageError, match=r"tickets.csv: missing column\(s\) created_at, channel"):
        read_batch(path)


def test_reports_escape_text_from_the_data():
    svg = svg_bars("<b>", ["<script>alert(1)</script>"], {"batch": [1.0]})
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    metrics = {
        "detected": True,
        "batch": {"file": "a|b`c", "tickets": 1, "labelled": 0},
        "checks": {"x": {"method": "score", "score": 1.0, "reference": 0.5, "threshold": 0.6, "detected": True}},
    }
    summary = markdown_summary(metrics)
    assert "a&#124;b&#96;c" in summary and "| drift |" in summary


def test_a_hashing_classifier_knows_the_words_of_its_training_tickets(texts, labels):
    settings = {**load_params()["classifier"]["sgd_streaming"], "n_features": 2**16, "epochs": 1}
    tickets = pd.DataFrame({"text": texts, "label": labels})
    classifier, _ = fit_streaming(lambda: iter([tickets]), settings)  # classifier.kind: sgd_streaming
    vocabulary, tokenize = vocabulary_of(classifier)
    assert vocabulary.unknown(["charged", "refund", "zebra", "zebra", "quokka", "charged"]) == 3
    assert vocabulary.unknown(["zebra"]) == 1 and vocabulary.unknown(["twice"]) == 0
    assert oov_rate(["Charged TWICE", "zebra quokka"], vocabulary, tokenize) == 0.5
    assert oov_rate(["!!"], vocabulary, tokenize) == 0.0  # no words at all


def test_a_hashing_classifier_without_idf_is_refused_in_one_line():
    with pytest.raises(StageError, match=r"classifier.skops hashes words but has no IDF \(idf_\)"):
        vocabulary_of(make_pipeline(HashingVectorizer()))
