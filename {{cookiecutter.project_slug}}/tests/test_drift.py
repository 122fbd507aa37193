import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline

from {{ cookiecutter.package_name }}.encoders import Encoder, build_encoder
from {{ cookiecutter.package_name }}.io import read_csv
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages import drift, sample_incoming
from {{ cookiecutter.package_name }}.stages.drift import (
    chi2_check,
    markdown_summary,
    oov_rate,
    read_batch,
    svg_bars,
    vocabulary_of,
)
from {{ cookiecutter.package_name }}.stages.sample_data import generate_tickets
from {{ cookiecutter.package_name }}.stages.sample_incoming import SHIFTS, VOCABULARY, generate_incoming
from {{ cookiecutter.package_name }}.stages.train_classifier import build_classifier, fit_streaming


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


# ----------------------------------------------------------------------------- the checks on tiny data
SETTINGS = {
    "alpha": 0.001,
    "oov": {"max_increase": 0.05},
    "far": {"quantile": 0.05},
    "categorical": {"columns": ["channel", "customer_tier", "region"], "max_unseen_share": 0.01},
    "performance": {"max_drop": 0.05},
    "max_reference_tickets": 40,
    "seed": 42,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Training and test tickets, a classifier and an encoder fitted on them, and the reference built from them."""
    params = load_params()
    train = generate_tickets(120, 0.0, "2024-01-01", "2024-03-31", np.random.default_rng(1))
    test = generate_tickets(50, 0.0, "2024-04-01", "2024-04-30", np.random.default_rng(2))
    classifier = build_classifier({**params["classifier"], "min_df": 1}).fit(train["text"], train["label"])
    encoder_params = {
        **params["encoder"],
        "hybrid": {**params["encoder"]["hybrid"], "dense_weight": 1.0},
        "tfidf_svd": {**params["encoder"]["tfidf_svd"], "n_components": 8},
    }
    folder = tmp_path_factory.mktemp("drift") / "encoder"
    build_encoder("tfidf-svd", train["text"].tolist(), encoder_params, folder)
    encoder = Encoder(folder)
    reference = drift.build_reference(train, test, classifier, encoder, SETTINGS)
    return train, test, classifier, encoder, reference


def test_rounded_keeps_six_significant_digits():
    assert drift.rounded(0.123456789) == 0.123457
    assert drift.rounded(123456789) == 123457000.0
    assert drift.rounded(1.5e-12) == 1.5e-12


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"^\S*tickets.csv: file not found; put the batch of tickets to check there$"),
        (b"", r"^\S*tickets.csv: the file is empty; it needs a header and at least one ticket$"),
        (b"\xff\xfe\x00bad", r"^\S*tickets.csv cannot be read as a CSV file: 'utf-8' codec can't decode byte 0xff"),
        (b"id,text,created_at,channel\n", r"^\S*tickets.csv: no tickets, only a header$"),
        (
            b"id,text,created_at,channel\nB1,hello,2024-01-01,web\nB2,,2024-01-01,web\nB3,,2024-01-01,web\n",
            r"^\S*tickets.csv: 2 ticket\(s\) without text, e.g. id B2$",
        ),
        (b"id,channel\nB1,web\n", r"missing column\(s\) text, created_at \(found: id, channel\)$"),
    ],
    ids=["missing", "empty", "binary", "header-only", "no-text", "columns"],
)
def test_each_unreadable_batch_stops_with_its_own_line(tmp_path, content, message):
    path = tmp_path / "tickets.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(StageError, match=message):
        drift.read_batch(path)


def test_a_good_batch_is_read_as_it_is(tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("id,text,created_at,channel\n007,hello,2024-01-01,web\n")
    batch = drift.read_batch(path)
    assert batch.to_dict("records") == [{"id": "007", "text": "hello", "created_at": "2024-01-01", "channel": "web"}]


def test_the_vocabulary_is_the_classifiers_unigrams_and_its_tokenizer(world):
    classifier = world[2]
    words, tokenize = drift.vocabulary_of(classifier)
    known = classifier.named_steps["tfidf"].vocabulary_
    assert words == {term for term in known if " " not in term} and len(words) < len(known)
    assert tokenize("Refund MY card, a b") == ["refund", "my", "card"]  # lower-cased; one-letter words dropped
    assert drift.vocabulary_of(classifier.named_steps["tfidf"])[0] == words  # a bare vectorizer works too
    with pytest.raises(StageError, match=r"classifier.skops has no text vectorizer with a vocabulary \(vocabulary_\)"):
        drift.vocabulary_of(classifier.named_steps["model"])


def test_oov_rate_counts_words_not_texts():
    def tokenize(text):
        return text.split()

    assert drift.oov_rate(["a b c", "a d"], {"a", "b"}, tokenize) == 2 / 5
    assert drift.oov_rate(["a a a", "x"], {"a"}, tokenize) == 1 / 4
    assert drift.oov_rate(["", ""], {"a"}, tokenize) == 0.0


def test_nearest_similarity_is_the_best_cosine_whatever_the_chunk():
    rng = np.random.default_rng(0)
    vectors, reference = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    expected = (vectors @ reference.T).max(axis=1)
    for chunk in (1, 3, 1024):
        got = drift.nearest_similarity(vectors, reference, chunk=chunk)
        assert got.dtype == np.float32 and np.allclose(got, expected, atol=1e-6)


def test_the_reference_samples_at_most_the_limit_and_scores_the_test_split(world):
    train, test, classifier, encoder, reference = world
    assert reference.train_vectors.shape == (40, 8)  # 120 training tickets, sampled down to 40
    assert np.allclose(
        reference.train_vectors, encoder.encode(train.sample(n=40, random_state=42).sort_index()["text"].tolist())
    )
    assert reference.test_nearest.shape == (40,)
    predicted = classifier.predict(test["text"])
    assert reference.classes == [str(c) for c in classifier.classes_]
    assert reference.test_predicted.tolist() == predicted.tolist()
    assert np.allclose(reference.test_confidence, classifier.predict_proba(test["text"]).max(axis=1))
    assert reference.test_accuracy == accuracy_score(test["label"], predicted)
    assert reference.test_macro_f1 == f1_score(test["label"], predicted, average="macro", zero_division=0)
    assert reference.test_oov_rate == drift.oov_rate(test["text"].tolist(), reference.vocabulary, reference.tokenize)
    small = drift.build_reference(train, test, classifier, encoder, {**SETTINGS, "max_reference_tickets": 120})
    assert small.train_vectors.shape == (120, 8) and small.test_nearest.shape == (50,)  # at the limit: all of them


def test_ks_check_detects_below_alpha_only():
    batch, reference = np.arange(20.0), np.arange(20.0) + 8
    p = stats.ks_2samp(batch, reference).pvalue
    check = drift.ks_check(batch, reference, p, "train")
    assert check == {
        "method": "ks",
        "against": "train",
        "statistic": 0.4,
        "p_value": drift.rounded(p),
        "threshold": p,
        "detected": False,  # p equal to alpha is not below it
        "batch_median": 9.5,
        "reference_median": 17.5,
    }
    assert drift.ks_check(batch, reference, np.nextafter(p, 1), "test")["detected"] is True


def test_psi_is_the_sum_over_categories_with_a_floor_for_zero_shares():
    assert drift.psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    assert drift.psi(np.array([0.25, 0.75]), np.array([0.5, 0.5])) == pytest.approx(
        (0.25 - 0.5) * np.log(0.5) + (0.75 - 0.5) * np.log(1.5)
    )
    assert drift.psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(
        0.5 * np.log(2) + (1e-4 - 0.5) * np.log(1e-4 / 0.5)
    )


def test_chi2_check_reports_the_test_the_shares_and_unseen_values():
    batch = pd.Series(["a"] * 30 + ["b"] * 10 + ["c"] * 2)
    reference = pd.Series(["a"] * 20 + ["b"] * 20)
    check = drift.chi2_check(batch, reference, 0.05, "train")
    table = np.array([[20, 20, 0], [30, 10, 2]], dtype=float)
    statistic, p, _, _ = stats.chi2_contingency(table)
    assert check == {
        "method": "chi2",
        "against": "train",
        "statistic": drift.rounded(statistic),
        "p_value": drift.rounded(p),
        "threshold": 0.05,
        "detected": bool(p < 0.05),
        "psi": drift.rounded(drift.psi(table[1] / 42, table[0] / 40)),
        "unseen": {"c": 2},
        "batch_share": {"a": drift.rounded(30 / 42), "b": drift.rounded(10 / 42), "c": drift.rounded(2 / 42)},
        "reference_share": {"a": 0.5, "b": 0.5, "c": 0.0},
    }
    assert check["detected"] is True
    same = drift.chi2_check(pd.Series(["x"] * 3), pd.Series(["x"] * 5), 0.5, "test")  # one category: no test possible
    assert (same["statistic"], same["p_value"], same["detected"], same["unseen"]) == (0.0, 1.0, False, {})


def test_a_batch_like_the_test_split_shows_no_drift(world):
    train, test, classifier, encoder, reference = world
    batch = test.iloc[:45].copy()
    metrics, plotted = drift.check_batch(batch, reference, classifier, encoder, SETTINGS)
    checks = metrics["checks"]
    assert list(checks) == [
        "text_length",
        "out_of_vocabulary",
        "far_from_training",
        "predicted_labels",
        "confidence",
        "categorical.channel",
        "categorical.customer_tier",
        "categorical.region",
        "accuracy",
        "macro_f1",
        "label_mix",
    ]
    assert metrics["batch"] == {"file": "data/incoming/tickets.csv", "tickets": 45, "labelled": 45}
    assert not metrics["detected"] and not any(check["detected"] for check in checks.values())
    assert checks["categorical.region"] == {"method": "chi2", "skipped": "no column region", "detected": False}
    assert checks["text_length"]["against"] == "train" and checks["confidence"]["against"] == "test"
    # the values behind each check, recomputed
    lengths = batch["text"].str.len().to_numpy()
    assert plotted["lengths"].tolist() == lengths.tolist()
    assert checks["text_length"]["p_value"] == drift.rounded(stats.ks_2samp(lengths, train["text"].str.len()).pvalue)
    rate = drift.oov_rate(batch["text"].tolist(), reference.vocabulary, reference.tokenize)
    oov = checks["out_of_vocabulary"]
    assert oov == {
        "method": "score",
        "against": "test",
        "score": drift.rounded(rate),
        "reference": drift.rounded(reference.test_oov_rate),
        "threshold": drift.rounded(reference.test_oov_rate + 0.05),
        "detected": False,
    }
    cutoff = np.quantile(reference.test_nearest, 0.05)
    nearest = drift.nearest_similarity(encoder.encode(batch["text"].tolist()), reference.train_vectors)
    far = int((nearest < cutoff).sum())
    assert plotted["cutoff"] == cutoff and np.allclose(plotted["nearest"], nearest)
    assert checks["far_from_training"] == {
        "method": "binomial",
        "against": "test",
        "score": drift.rounded(far / 45),
        "reference": 0.05,
        "cutoff_similarity": drift.rounded(cutoff),
        "p_value": drift.rounded(stats.binomtest(far, 45, 0.05, alternative="greater").pvalue),
        "threshold": 0.001,
        "detected": False,
    }
    predicted = classifier.predict(batch["text"])
    accuracy = accuracy_score(batch["label"], predicted)
    correct = int((batch["label"] == predicted).sum())
    assert checks["accuracy"] == {
        "method": "drop",
        "against": "test",
        "score": drift.rounded(accuracy),
        "reference": drift.rounded(reference.test_accuracy),
        "p_value": drift.rounded(stats.binomtest(correct, 45, reference.test_accuracy, alternative="less").pvalue),
        "threshold": drift.rounded(reference.test_accuracy - 0.05),
        "detected": False,
    }
    f1 = f1_score(batch["label"], predicted, labels=reference.classes, average="macro", zero_division=0)
    assert checks["macro_f1"]["score"] == drift.rounded(f1) and "p_value" not in checks["macro_f1"]
    assert checks["predicted_labels"]["batch_share"] == {
        label: drift.rounded((predicted == label).mean())
        for label in sorted(set(predicted) | set(reference.test_predicted))
    }
    assert (
        checks["categorical.channel"]["unseen_share"] == 0.0
        and checks["categorical.channel"]["max_unseen_share"] == 0.01
    )


def test_each_kind_of_drift_is_detected_by_its_own_check(world):
    train, test, classifier, encoder, reference = world
    batch = generate_tickets(60, 0.0, "2024-05-01", "2024-05-31", np.random.default_rng(3))
    batch.loc[:, "text"] = batch["text"] + " zorbex quintal flarn vexil" * 8  # longer and full of unknown words
    batch.loc[:1, "channel"] = "fax"  # 2 of 60 tickets: an unseen share of 0.033 > 0.01
    batch.loc[:0, "label"] = "warranty"  # a label training never had
    batch.loc[5:, "label"] = None  # 5 labelled tickets only
    metrics, _ = drift.check_batch(batch, reference, classifier, encoder, SETTINGS)
    checks = metrics["checks"]
    assert metrics["detected"] and metrics["batch"]["labelled"] == 5
    assert checks["text_length"]["detected"] and checks["out_of_vocabulary"]["detected"]
    channel = checks["categorical.channel"]
    assert channel["unseen"] == {"fax": 2} and channel["unseen_share"] == drift.rounded(2 / 60) and channel["detected"]
    assert checks["label_mix"]["unseen"] == {"warranty": 1} and checks["label_mix"]["detected"]
    assert not checks["categorical.customer_tier"]["detected"]


def test_one_unseen_value_at_the_limit_is_no_drift_but_above_it_is(world):
    _, _, classifier, encoder, reference = world
    batch = generate_tickets(100, 0.0, "2024-05-01", "2024-05-31", np.random.default_rng(3)).drop(columns="label")
    batch.loc[:0, "channel"] = "fax"  # 1 of 100: exactly the 0.01 allowed
    metrics, _ = drift.check_batch(batch, reference, classifier, encoder, SETTINGS)
    assert metrics["checks"]["categorical.channel"]["unseen_share"] == 0.01
    assert not metrics["checks"]["categorical.channel"]["detected"]
    for name in ("accuracy", "macro_f1", "label_mix"):
        assert metrics["checks"][name] == {"method": "none", "skipped": "the batch has no labels", "detected": False}
    assert metrics["batch"]["labelled"] == 0
    batch.loc[:1, "channel"] = "fax"
    metrics, _ = drift.check_batch(batch, reference, classifier, encoder, SETTINGS)
    assert metrics["checks"]["categorical.channel"]["detected"] and metrics["detected"]


def test_an_accuracy_drop_beyond_the_limit_is_detected(world):
    _, _, classifier, encoder, reference = world
    batch = generate_tickets(60, 0.0, "2024-05-01", "2024-05-31", np.random.default_rng(3))
    predicted = classifier.predict(batch["text"])
    wrong = {label: next(c for c in reference.classes if c != label) for label in reference.classes}
    batch["label"] = [wrong[p] if i % 2 else p for i, p in enumerate(predicted)]  # half of them wrong
    metrics, _ = drift.check_batch(batch, reference, classifier, encoder, SETTINGS)
    accuracy = metrics["checks"]["accuracy"]
    assert accuracy["score"] == 0.5 and accuracy["detected"] and accuracy["p_value"] < 0.001
    assert metrics["checks"]["macro_f1"]["detected"]


def test_describe_words_every_kind_of_check():
    assert drift.describe({"skipped": "no column x", "detected": False}) == ("–", "–", "skipped: no column x")
    ks = {"method": "ks", "statistic": 0.41234, "p_value": 0.000123456, "threshold": 0.001, "detected": True}
    assert drift.describe(ks) == ("ks 0.412, p = 0.000123", "p < 0.001", "drift")
    binomial = {
        "method": "binomial",
        "score": 0.25,
        "reference": 0.05,
        "p_value": 0.5,
        "threshold": 0.001,
        "detected": False,
    }
    assert drift.describe(binomial) == ("share 0.25 (expected 0.05), p = 0.5", "p < 0.001", "ok")
    score = {"method": "score", "score": 0.123456, "reference": 0.1, "threshold": 0.15, "detected": False}
    assert drift.describe(score) == ("0.1235 (reference 0.1)", "> 0.15", "ok")
    drop = {"method": "drop", "score": 0.8, "reference": 0.9, "p_value": 0.01, "threshold": 0.85, "detected": True}
    assert drift.describe(drop) == ("0.8 (reference 0.9)", "< 0.85", "drift")
    chi2 = {
        "method": "chi2",
        "statistic": 12.0,
        "p_value": 0.002,
        "threshold": 0.001,
        "detected": True,
        "unseen": {"fax": 2, "pager": 1},
        "unseen_share": 0.03,
        "max_unseen_share": 0.01,
    }
    assert drift.describe(chi2) == (
        "chi2 12, p = 0.002",
        "p < 0.001 or unseen share > 0.01",
        "drift; unseen: fax (2), pager (1)",
    )


def test_the_summary_is_a_markdown_table_of_every_check():
    metrics = {
        "detected": False,
        "batch": {"file": "data/incoming/tickets.csv", "tickets": 3, "labelled": 1},
        "checks": {
            "confidence": {
                "method": "ks",
                "against": "test",
                "statistic": 0.1,
                "p_value": 0.9,
                "threshold": 0.001,
                "detected": False,
            },
            "label_mix": {"skipped": "the batch has no labels", "detected": False},
        },
    }
    assert drift.markdown_summary(metrics) == (
        "## ✅ No drift detected\n"
        "\n"
        "Batch `data/incoming/tickets.csv`: 3 tickets, 1 labelled. Thresholds: `drift` in params.yaml.\n"
        "\n"
        "| check | against | value | drift when | verdict |\n"
        "|---|---|---|---|---|\n"
        "| `confidence` | test | ks 0.1, p = 0.9 | p &lt; 0.001 | ok |\n"
        "| `label_mix` | – | – | – | skipped: the batch has no labels |\n"
    )
    assert drift.markdown_summary({**metrics, "detected": True}).startswith("## ❌ Drift detected\n")


def test_svg_bars_scale_to_the_largest_share():
    svg = drift.svg_bars("Shares", ["a", "b"], {"train": [0.5, 0.25], "batch": [0.1, 0.0]}, width=420)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="420" height="124" role="img">')
    assert svg.endswith("</svg>") and "<title>Shares</title>" in svg
    # bars run from x=160 to x=400: 0.5 (the largest) is 240 wide, 0.25 half of it, 0 none
    assert 'width="240.0"' in svg and 'width="120.0"' in svg and 'width="48.0"' in svg and 'width="0.0"' in svg
    assert '<text x="174" y="31" font-size="12">train</text>' in svg
    assert '<text x="334" y="31" font-size="12">batch</text>' in svg
    assert svg.count('fill="#4c78a8"') == 3 and svg.count('fill="#f58518"') == 3  # legend + one bar per category
    assert "<title>b: 0.250</title>" in svg and '<rect x="160" y="76"' in svg and '<rect x="160" y="88"' in svg
    assert drift.svg_bars("Empty", [], {"x": []}).count("<rect") == 1  # no categories: only the legend


def test_svg_histogram_draws_shares_per_bin_and_the_cutoff_inside_the_range():
    svg = drift.svg_histogram("H", {"a": np.array([0.0, 1.0, 1.0, 2.0]), "b": np.array([2.0, 2.0])}, bins=2, marker=0.5)
    lines = [part for part in svg.split("/>") if "<polyline" in part]
    assert len(lines) == 2
    # bins [0, 1) and [1, 2]: a has shares 0.25 and 0.75, b 0 and 1 (the tallest, at the top margin y=40)
    assert 'points="40.0,152.5 335.0,152.5 335.0,77.5 630.0,77.5"' in lines[0]
    assert 'points="40.0,190.0 335.0,190.0 335.0,40.0 630.0,40.0"' in lines[1]
    assert '<line x1="187.5" y1="40" x2="187.5" y2="190" stroke="#c00"' in svg and "cutoff 0.5</text>" in svg
    assert '<text x="40" y="206" font-size="11">0</text>' in svg and 'text-anchor="end">2</text>' in svg
    assert "cutoff" not in drift.svg_histogram("H", {"a": np.array([0.0, 1.0])}, bins=2, marker=1.5)
    assert "cutoff" not in drift.svg_histogram("H", {"a": np.array([0.0, 1.0])}, bins=2, marker=-0.1)
    flat = drift.svg_histogram("H", {"a": np.array([3.0, 3.0])}, bins=2, marker=3.0)  # one value: a range of 1
    assert '<text x="40" y="206" font-size="11">3</text>' in flat and 'text-anchor="end">4</text>' in flat
    assert '<line x1="40.0" y1="40"' in flat


def test_the_report_and_the_metrics_file_of_a_checked_batch(world):
    train, _, classifier, encoder, reference = world
    batch = generate_tickets(60, 0.0, "2024-05-01", "2024-05-31", np.random.default_rng(3))
    batch.loc[:1, "channel"] = "<b>fax</b>"
    metrics, plotted = drift.check_batch(batch, reference, classifier, encoder, SETTINGS)
    page = drift.html_report(metrics, plotted, reference)
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</body></html>")
    assert "<title>Drift detected: drift report</title>" in page and "<h1>Drift detected</h1>" in page
    assert "<b>fax</b>" not in page and "&lt;b&gt;fax&lt;/b&gt;" in page
    detected = [name for name, check in metrics["checks"].items() if check["detected"]]
    assert "categorical.channel" in detected and page.count('<tr class="drift">') == len(detected)
    assert page.count("<tr") == 1 + len(metrics["checks"])
    # one plot per numeric check, predicted labels, each categorical column checked, and the labels
    titles = [
        "Text length (characters)",
        "Similarity to the nearest training ticket",
        "Top-class probability",
        "Predicted labels",
        "Column channel",
        "Column customer_tier",
        "Labels",
    ]
    assert [part.split("<title>")[1].split("</title>")[0] for part in page.split("<svg")[1:]] == titles
    assert page.count("<polyline") == 6  # three histograms of two series each
    assert page.count("<svg") == len(titles) and all(f"<title>{t}</title>" in page for t in titles)
    assert "<code>data/incoming/tickets.csv</code>: 60 tickets, 60 labelled" in page
    unlabelled, plotted = drift.check_batch(batch.drop(columns="label"), reference, classifier, encoder, SETTINGS)
    assert "<title>Labels</title>" not in drift.html_report(unlabelled, plotted, reference)
    saved = drift.metrics_file(metrics)
    assert saved["detected"] is True and saved["batch"] == metrics["batch"]
    assert not any(key in check for check in saved["checks"].values() for key in drift.REPORT_ONLY)
    assert saved["checks"]["text_length"] == {
        k: v for k, v in metrics["checks"]["text_length"].items() if k not in ("method", "against")
    }
    assert "batch_share" in metrics["checks"]["label_mix"]  # the report keeps what the file drops


def test_the_verdict_reads_the_last_check(tmp_path, capsys):
    path = tmp_path / "drift.json"
    with pytest.raises(StageError, match=r"drift.json not found: run `dvc repro drift` first$"):
        drift.verdict(path)
    path.write_text(json.dumps({"detected": True}))
    assert drift.verdict(path) == 1 and capsys.readouterr().out == "drift detected: see reports/drift/index.html\n"
    path.write_text(json.dumps({"detected": False}))
    assert drift.verdict(path) == 0 and capsys.readouterr().out == "no drift detected\n"


def test_the_stage_checks_the_batch_against_the_production_models(world, tmp_path, monkeypatch, capsys):
    train, test, classifier, encoder, _ = world
    from {{ cookiecutter.package_name }}.io import read_json, write_csv
    from {{ cookiecutter.package_name }}.models import save_model

    params = Path("params.yaml").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(params.replace("max_reference_tickets: 5000", "max_reference_tickets: 40"))
    save_model(classifier, drift.CLASSIFIER_FILE)
    shutil.copytree(encoder.path, drift.ENCODER_DIR)
    write_csv(train, drift.TRAIN_FILE)
    write_csv(test, drift.TEST_FILE)
    batch = test.iloc[:30].drop(columns="label")
    batch.loc[:9, "channel"] = "fax"
    write_csv(batch, drift.BATCH_FILE)
    assert drift.main([]) == 0
    assert capsys.readouterr().out == (
        "drift: DRIFT in categorical.channel (30 tickets checked). Report: reports/drift/index.html\n"
    )
    metrics = read_json("metrics/drift.json")
    assert metrics["detected"] and metrics["batch"] == {
        "file": "data/incoming/tickets.csv",
        "tickets": 30,
        "labelled": 0,
    }
    assert metrics["checks"]["categorical.channel"]["unseen"] == {"fax": 10}
    assert "method" not in metrics["checks"]["categorical.channel"]
    assert Path("reports/drift/summary.md").read_text().startswith("## ❌ Drift detected\n")
    assert "<h1>Drift detected</h1>" in Path("reports/drift/index.html").read_text()
    assert drift.main(["--verdict"]) == 1
    write_csv(test.iloc[:30], drift.BATCH_FILE)
    assert drift.main([]) == 0
    assert capsys.readouterr().out.endswith(
        "\ndrift: no drift (30 tickets checked). Report: reports/drift/index.html\n"
    )
    assert drift.main(["--verdict"]) == 0


# ----------------------------------------------------------------------------- make incoming: the shifted batches
@pytest.mark.parametrize("kind", [s for s in SHIFTS if s != "none"])
def test_a_shift_changes_exactly_its_share_of_rows_in_its_own_way(settings, kind):
    base = generate_incoming({**settings, "shift": "none", "n_tickets": 50}, 0.04)
    shifted = generate_incoming({**settings, "shift": kind, "share": 0.2, "n_tickets": 50}, 0.04)
    changed = (base != shifted).any(axis=1)
    assert changed.sum() == 10  # round(0.2 * 50)
    new, old = shifted[changed], base[changed]
    same = ["id", "created_at", "customer_tier"]
    assert new[same].equals(old[same]) and shifted[~changed].equals(base[~changed])
    if kind == "new_topic":
        assert set(new["label"]) <= {t["label"] for t in VOCABULARY["new_topic"]} and (new["text"] != old["text"]).all()
    elif kind == "label_mix":
        assert (new["label"] == VOCABULARY["label_mix"]["label"]).all()
    elif kind == "longer_texts":
        assert (new["label"] == old["label"]).all()
        assert all(
            n.startswith(o + "\n\n") and n.count("\n\n") == 2 for n, o in zip(new["text"], old["text"], strict=True)
        )
    elif kind == "new_channel":
        assert set(new["channel"]) <= set(VOCABULARY["new_channel"]) and (new["text"] == old["text"]).all()
    else:
        assert set(new["language"]) <= {"es", "de"} and (new["label"] == old["label"]).all()
        assert (new["text"] != old["text"]).all() and (base["language"] == "en").all()


def test_a_share_outside_0_to_1_is_refused_and_its_ends_are_allowed(settings):
    base = generate_incoming({**settings, "n_tickets": 20, "shift": "none"}, 0.0)
    for share, changed in ((0.0, 0), (1.0, 20)):
        shifted = generate_incoming({**settings, "n_tickets": 20, "shift": "new_channel", "share": share}, 0.0)
        assert (base["channel"] != shifted["channel"]).sum() == changed
    for share in (-0.1, 1.1):
        with pytest.raises(ValueError, match=f"^data.incoming.share must be between 0 and 1, got {share}$"):
            generate_incoming({**settings, "shift": "label_mix", "share": share}, 0.04)
    with pytest.raises(ValueError, match=r"^data.incoming.shift must be one of none, new_topic, .*, not 'x'$"):
        generate_incoming({**settings, "shift": "x"}, 0.04)


def test_make_incoming_writes_the_batch_the_options_describe(tmp_path, monkeypatch, capsys):
    params = load_params()
    shutil.copy("params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert sample_incoming.main([]) == 0
    expected = generate_incoming(params["data"]["incoming"], params["data"]["label_noise"])
    assert read_csv("data/incoming/tickets.csv").equals(read_csv_text(expected))
    shift = params["data"]["incoming"]["shift"]
    n = params["data"]["incoming"]["n_tickets"]
    assert (
        capsys.readouterr().out == f"sample_incoming: wrote {n} tickets (shift: {shift}) to data/incoming/tickets.csv\n"
    )
    argv = ["--shift", "label_mix", "--share", "0.5", "--seed", "3", "--n-tickets", "12", "--out", "b.csv"]
    assert sample_incoming.main(argv) == 0
    settings = {**params["data"]["incoming"], "shift": "label_mix", "share": 0.5, "seed": 3, "n_tickets": 12}
    assert read_csv("b.csv").equals(read_csv_text(generate_incoming(settings, params["data"]["label_noise"])))
    assert capsys.readouterr().out == "sample_incoming: wrote 12 tickets (shift: label_mix) to b.csv\n"
    assert read_csv("b.csv")["id"].iloc[0] == "B3-000001"
    with pytest.raises(SystemExit):
        sample_incoming.parse_args(["--shift", "sideways"])
    assert vars(sample_incoming.parse_args([])) == {
        "shift": None,
        "share": None,
        "seed": None,
        "n_tickets": None,
        "out": Path("data/incoming/tickets.csv"),
    }


def read_csv_text(frame):
    """`frame` as it reads back from a CSV file."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype={"id": str}, keep_default_na=False, na_values=[""])
