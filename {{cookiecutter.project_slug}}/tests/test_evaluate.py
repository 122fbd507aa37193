"""The evaluate stage on a tiny project: every metric it writes is recomputed here from its own case files."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.encoders import Encoder, build_encoder
from {{ cookiecutter.package_name }}.io import read_csv
from {{ cookiecutter.package_name }}.models import load_model, save_model
from {{ cookiecutter.package_name }}.modelset import file_hashes
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages import evaluate
from {{ cookiecutter.package_name }}.stages.train_classifier import build_classifier

PARAMS = Path("params.yaml").resolve()
LABELS = ["billing", "account_access", "shipping", "technical_issue"]
TICKETS = pd.DataFrame(
    {
        "id": [f"T{i}" for i in range(8)],
        "text": [
            "I was charged twice for my subscription",
            "please refund the duplicate payment on my card",
            "I cannot log in, the password reset email never arrives",
            "my account is locked after too many login attempts",
            "the parcel has not arrived and tracking shows no update",
            "my order was delivered to the wrong address",
            "the app crashes when I open the settings page",
            "error 500 when uploading a file from the dashboard",
        ],
        "label": [label for label in LABELS for _ in range(2)],
        "channel": ["email", "chat"] * 4,
    }
)
KB = pd.DataFrame(
    {
        "id": ["KB1", "KB2", "KB3", "KB4"],
        "title": ["Refund a double charge", "Reset your password", "Track a parcel", "Report a crash"],
        "body": [
            "request a refund for a duplicate payment on your card",
            "use the reset link in the login email to unlock your account",
            "the tracking page shows where your order and delivery are",
            "send the error log when the app crashes on the settings page",
        ],
    }
)
QUERIES = pd.DataFrame(
    {
        "query": ["refund a duplicate payment", "password reset email", "where is my parcel", "the app crashes"],
        "kb_id": ["KB1", "KB2", "KB3", "KB1"],  # the last one points at the wrong article on purpose
    }
)


def test_classification_metrics_per_class_and_overall():
    truth = pd.Series(["billing", "billing", "shipping", "shipping"])
    metrics = evaluate.classification_metrics(truth, ["billing", "shipping", "shipping", "shipping"], LABELS[::2])
    assert metrics["accuracy"] == 0.75
    assert metrics["per_class"]["billing"] == {"precision": 1.0, "recall": 0.5, "f1": 0.666667, "support": 2}
    assert metrics["per_class"]["shipping"] == {"precision": 0.666667, "recall": 1.0, "f1": 0.8, "support": 2}
    assert list(metrics["per_class"]) == ["billing", "shipping"]
    assert metrics["macro_f1"] == pytest.approx((0.666667 + 0.8) / 2, abs=1e-6)


def test_query_cases_give_the_rank_of_the_expected_article_and_score_abstention():
    ranked = [["KB2", "KB1"], ["KB2", "KB1"], [], ["KB3"], ["KB4"], ["KB4"]]
    queries = pd.DataFrame(
        {"query": list("abcdef"), "kb_id": ["KB1", "KB2", "KB1", "KB1", None, None]}  # e, f: the KB has no answer
    )
    scores = np.array([0.9, 0.8, 0.0, 0.7, 0.6, 0.1])
    cases = evaluate.query_cases(queries, ranked, scores, [True, True, False, True, True, False])
    assert cases.columns.tolist() == ["query", "expected", "rank", "top", "score", "answered"]
    assert cases["query"].tolist() == list("abcdef")
    # e offered an article for a question with no answer: wrong (rank 0); f abstained: right (rank 1)
    assert cases["rank"].tolist() == [2, 1, 0, 0, 0, 1]
    assert cases["top"].tolist() == ["KB2", "KB2", "", "KB3", "KB4", ""]
    assert cases["expected"].tolist()[:4] == ["KB1", "KB2", "KB1", "KB1"] and cases["expected"][4:].isna().all()
    assert cases["answered"].tolist() == [1, 1, 0, 1, 1, 0] and cases["score"].tolist() == scores.tolist()


def test_must_pass_labels_must_be_known(tmp_path):
    path = tmp_path / "must_pass.csv"
    path.write_text("text,label\nrefund please,billing\n")
    assert evaluate.read_must_pass(path, LABELS)["label"].tolist() == ["billing"]
    path.write_text("text,label\nrefund please,refunds\n")
    with pytest.raises(StageError, match=r"unknown labels: \['refunds'\]"):
        evaluate.read_must_pass(path, LABELS)
    path.write_text("text,label\n,billing\n")
    with pytest.raises(StageError, match="every row needs a text"):
        evaluate.read_must_pass(path, LABELS)
    path.write_text("text\nrefund please\n")
    with pytest.raises(StageError, match="needs the columns text and label \\(missing: label\\)"):
        evaluate.read_must_pass(path, LABELS)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A tiny project with trained candidate models and validated data; evaluate's main runs in it."""
    shutil.copy(PARAMS, tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    params = load_params()
    candidate = tmp_path / "models" / "candidate"
    classifier = build_classifier(params["classifier"]).fit(TICKETS["text"], TICKETS["label"])
    save_model(classifier, candidate / "classifier.skops")
    encoder_params = params["encoder"]
    encoder_params["tfidf_svd"] = {**encoder_params["tfidf_svd"], "n_components": 3, "stop_words": False}
    build_encoder("tfidf-svd", evaluate.kb_documents(KB), encoder_params, candidate / "encoder")
    for folder, name, frame in [
        ("data/split", "test.csv", TICKETS.assign(label=[*TICKETS["label"][:-1], "billing"])),  # one wrong label
        ("data/validated", "kb.csv", KB),
        ("data/validated", "queries.csv", QUERIES),
        ("golden", "must_pass_tickets.csv", TICKETS.loc[[0, 6], ["text", "label"]]),
    ]:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        frame.to_csv(tmp_path / folder / name, index=False)
    return tmp_path


def test_evaluate_writes_metrics_that_match_its_case_files(project, capsys):
    assert evaluate.main() == 0
    out = project / "metrics" / "evaluate"
    metrics = json.loads((out / "metrics.json").read_text())
    tickets = read_csv(out / "cases" / "tickets.csv")
    assert tickets["id"].tolist() == TICKETS["id"].tolist()
    assert metrics["classification"]["accuracy"] == round((tickets["expected"] == tickets["predicted"]).mean(), 6)
    assert tickets["confidence"].between(0.25, 1.0).all()
    assert set(metrics["classification"]["per_class"]) == set(load_params()["validate"]["labels"])

    ranks = read_csv(out / "cases" / "queries.csv")["rank"].to_numpy()
    assert ranks[-1] != 1 and ranks.min() >= 0
    assert metrics["retrieval"]["recall_at_1"] == round(float(np.mean(ranks == 1)), 6)
    assert metrics["retrieval"]["recall_at_5"] == round(float(np.mean((ranks >= 1) & (ranks <= 5))), 6)
    assert metrics["retrieval"]["mrr"] == round(float(np.mean(np.where(ranks > 0, 1 / np.maximum(ranks, 1), 0))), 6)
    assert set(metrics["retrieval"]) == {"recall_at_1", "recall_at_5", "mrr"}

    retrieval = metrics["retrieval"]
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"evaluate: accuracy={metrics['classification']['accuracy']} macro_f1={metrics['classification']['macro_f1']} "
        f"recall_at_1={retrieval['recall_at_1']}, recall_at_5={retrieval['recall_at_5']}, mrr={retrieval['mrr']} "
        "must_pass=2/2"
    )
    must_pass = json.loads((out / "must_pass.json").read_text())
    assert [case["passed"] for case in must_pass] == [True, True]
    assert metrics["must_pass"] == {"total": 2, "failed": 0}
    assert json.loads((out / "models.json").read_text())["files"] == file_hashes(project / "models" / "candidate")
    assert sorted(path.name for path in (out / "plots").iterdir()) == ["custom", "sklearn"]  # no per-metric plots
    assert not (project / "dvc.yaml").exists()  # dvc.yaml is the project's, never rewritten by dvclive
    curve = json.loads((out / "plots" / "custom" / "recall_at_k.json").read_text())
    assert [point["k"] for point in curve] == list(range(1, 11))
    per_class = json.loads((out / "plots" / "custom" / "per_class_f1.json").read_text())
    assert per_class == [{"label": label, "f1": s["f1"]} for label, s in metrics["classification"]["per_class"].items()]
    confusion = json.loads((out / "plots" / "sklearn" / "confusion_matrix.json").read_text())
    assert confusion == [{"actual": row.expected, "predicted": row.predicted} for row in tickets.itertuples()]
    assert [point["recall"] for point in curve][::4] == [
        metrics["retrieval"]["recall_at_1"],
        metrics["retrieval"]["recall_at_5"],
        1.0,  # four articles: every query finds its article by k=4
    ]


def test_a_must_pass_ticket_the_model_gets_wrong_is_recorded_as_failed(project, capsys):
    pd.DataFrame({"text": ["the app crashes when I open the settings page"], "label": ["billing"]}).to_csv(
        project / "golden" / "must_pass_tickets.csv", index=False
    )
    assert evaluate.main() == 0
    (case,) = json.loads((project / "metrics" / "evaluate" / "must_pass.json").read_text())
    assert case == {
        "text": "the app crashes when I open the settings page",
        "expected": "billing",
        "predicted": "technical_issue",
        "passed": False,
    }
    metrics = json.loads((project / "metrics" / "evaluate" / "metrics.json").read_text())
    assert metrics["must_pass"] == {"total": 1, "failed": 1}
    assert capsys.readouterr().out.strip().endswith(" must_pass=0/1")
    classifier = load_model(project / "models" / "candidate" / "classifier.skops")
    assert evaluate.must_pass_results(classifier, pd.DataFrame({"text": [], "label": []})) == []


def test_no_golden_queries_is_an_error_not_a_nan_metric(project):
    QUERIES.head(0).to_csv(project / "data" / "validated" / "queries.csv", index=False)
    names = "retrieval.recall_at_1, retrieval.recall_at_5, retrieval.mrr"
    with pytest.raises(StageError, match=f"{names} cannot be computed"):
        evaluate.main()
    assert not (project / "metrics" / "evaluate" / "metrics.json").exists()


def test_the_ranking_is_the_encoders_exact_search(project):
    encoder = Encoder(project / "models" / "candidate" / "encoder")
    ranked, top_scores = evaluate.retrieval_ranking(encoder, KB, QUERIES, 2, str(project / "cache"))
    assert [row[0] for row in ranked[:3]] == ["KB1", "KB2", "KB3"] and all(len(row) == 2 for row in ranked)
    assert top_scores.shape == (len(QUERIES),) and (np.diff(top_scores) != 0).any()
