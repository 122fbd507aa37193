"""Stage `evaluate`: measure the candidate models before anything is promoted.

- classification: accuracy, macro-F1 and per-class scores on the test split;
- retrieval: recall@k and MRR of the candidate encoder (hybrid: dense + BM25) on
  the golden queries that have an answer (a `kb_id`), and how well it abstains
  on those that have none: below `index.abstain_below` the ranking answers
  "no answer" (precision and recall of abstaining; `make tune-abstention` sets
  the threshold);
- must-pass tickets (`golden/must_pass_tickets.csv`): regression cases the team
  adds whenever it fixes a failure; each must be classified correctly;
- slices (`slices.py`): the same metrics per value of the ticket columns in
  `evaluate.slices`, per golden-query `slice` and per length bucket, with the
  number of cases of each, under `slices` in the metrics file.

Metrics and plots are written with dvclive to `metrics/evaluate/` and declared
in dvc.yaml for `dvc metrics show` and `dvc plots show`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from dvclive import Live
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from ..embeddings import embed_texts, vector_engine
from ..encoders import Encoder
from ..io import read_csv, write_csv, write_json
from ..models import load_model
from ..modelset import file_hashes, manifest_of
from ..params import flatten, load_params
from ..retrieval import abstention_curve, abstention_metrics, answered, mean_reciprocal_rank, recall_at_k
from ..runner import StageError, run_stage
from ..slices import check_columns, plot_rows, query_slices, ticket_slices
from ..text import kb_documents
from ..vector_index import build_index

CANDIDATE = Path("models/candidate")
OUT_DIR = Path("metrics/evaluate")
CASES_DIR = OUT_DIR / "cases"  # per test ticket and per golden query: what the regression gate diffs
MUST_PASS_FILE = Path("golden/must_pass_tickets.csv")
DIGITS = 6  # rounding keeps metric files stable and readable


def classification_metrics(y_true: pd.Series, y_pred: list[str], labels: list[str]) -> dict:
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": round(accuracy_score(y_true, y_pred), DIGITS),
        "macro_f1": round(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0), DIGITS),
        "per_class": {
            label: {
                "precision": round(float(p), DIGITS),
                "recall": round(float(r), DIGITS),
                "f1": round(float(f), DIGITS),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
    }


def retrieval_ranking(encoder: Encoder, kb: pd.DataFrame, queries: pd.DataFrame, k: int, cache_dir: str, encode=None):
    """Top-`k` KB ids per golden query, by exact (hybrid, if the encoder is) search over the candidate's embeddings,
    and the best score of each query (what abstention compares with its threshold). `encode` embeds the articles
    the cache lacks (default: the encoder, in this process)."""
    documents = embed_texts(encoder, kb_documents(kb), cache_dir, encode)
    index = build_index("exact", kb["id"].tolist(), documents.vectors, {}, documents.terms)
    texts = queries["query"].tolist()
    rows, scores = index.search_scored(encoder.encode(texts), k, encoder.query_terms(texts), encoder.dense_weight)
    ids = kb["id"].to_numpy()
    top = scores[:, 0].astype(np.float64) if scores.shape[1] else np.zeros(len(texts))
    return [ids[r].tolist() for r in rows], np.round(top, DIGITS)


def predict_with_confidence(classifier, texts: pd.Series) -> tuple[list[str], list[float]]:
    """Labels exactly as `classifier.predict` gives them, and the probability of each; texts transformed once."""
    features = classifier[:-1].transform(texts)
    model = classifier[-1]
    labels = model.predict(features).tolist()
    confidence = model.predict_proba(features).max(axis=1) if len(labels) else []
    return labels, [round(float(p), DIGITS) for p in confidence]


def ticket_cases(test: pd.DataFrame, predicted: list[str], confidence: list[float]) -> pd.DataFrame:
    """One row per test ticket: what it is, what the candidate said, how sure it was (the gate diffs these)."""
    return pd.DataFrame({"id": test["id"], "expected": test["label"], "predicted": predicted, "confidence": confidence})


def query_cases(queries: pd.DataFrame, ranked: list[list[str]], top_scores: np.ndarray, answers) -> pd.DataFrame:
    """One row per golden query: the rank of its article (0: not in the list), the top hit, its score and
    whether retrieval answered. A query with no article (empty `expected`) is right when retrieval
    abstains: rank 1 then, else 0 and the article it wrongly offered."""
    ranks, tops = [], []
    for row, target, answer in zip(ranked, queries["kb_id"], answers, strict=True):
        if pd.isna(target):
            ranks.append(0 if answer else 1)
            tops.append(row[0] if answer and row else "")
        else:
            ranks.append(row.index(target) + 1 if target in row else 0)
            tops.append(row[0] if row else "")
    return pd.DataFrame(
        {
            "query": queries["query"],
            "expected": queries["kb_id"],
            "rank": ranks,
            "top": tops,
            "score": top_scores,
            "answered": [int(answer) for answer in answers],
        }
    )


def read_must_pass(path: Path, labels: list[str]) -> pd.DataFrame:
    """The must-pass tickets, refused if a label is not one the classifier knows (a typo would fail forever)."""
    cases = read_csv(path)
    missing = {"text", "label"} - set(cases.columns)
    if missing:
        raise StageError(f"{path} needs the columns text and label (missing: {', '.join(sorted(missing))})")
    unknown = sorted(set(cases["label"].dropna()) - set(labels))
    if unknown or cases[["text", "label"]].isna().any().any():
        raise StageError(f"{path}: every row needs a text and one of validate.labels; unknown labels: {unknown}")
    return cases


def must_pass_results(classifier, cases: pd.DataFrame) -> list[dict]:
    predicted = classifier.predict(cases["text"]) if len(cases) else []
    return [
        {"text": text, "expected": expected, "predicted": str(got), "passed": bool(expected == got)}
        for text, expected, got in zip(cases["text"], cases["label"], predicted, strict=True)
    ]


def main() -> int:
    params = load_params()
    settings = params["evaluate"]
    labels = list(params["validate"]["labels"])
    measured = file_hashes(CANDIDATE)  # hashed before loading: promote installs only these bytes
    classifier = load_model(CANDIDATE / "classifier.skops")
    encoder = Encoder(CANDIDATE / "encoder")
    test = read_csv("data/split/test.csv")
    kb = read_csv("data/validated/kb.csv")
    queries = read_csv("data/validated/queries.csv")
    cases = read_must_pass(MUST_PASS_FILE, labels)

    check_columns(test, settings["slices"], "data/split/test.csv")
    predicted, confidence = predict_with_confidence(classifier, test["text"])
    classification = classification_metrics(test["label"], predicted, labels)

    ks = sorted(settings["recall_at"])
    curve_ks = range(1, max(max(ks), settings["curve_max_k"]) + 1)
    with vector_engine(encoder, params["embed"]) as encode:  # the KB is embedded here first: on `embed.engine`
        ranked, top_scores = retrieval_ranking(
            encoder, kb, queries, max(curve_ks), params["embed"]["cache_dir"], encode
        )
    answerable = queries["kb_id"].notna().to_numpy()
    answers = answered(top_scores, params["index"]["abstain_below"])
    # recall and MRR rank the answerable queries; the others are measured by abstention
    ranked_answerable = [row for row, keep in zip(ranked, answerable, strict=True) if keep]
    expected = queries["kb_id"][answerable].tolist()
    retrieval: dict = {f"recall_at_{k}": round(recall_at_k(ranked_answerable, expected, k), DIGITS) for k in ks}
    retrieval["mrr"] = round(mean_reciprocal_rank(ranked_answerable, expected), DIGITS)
    if not answerable.all():  # with no query lacking an answer there is nothing to abstain on
        abstaining = abstention_metrics(answers, answerable)
        retrieval["abstention"] = {name: round(value, DIGITS) for name, value in abstaining.items()}
        retrieval["abstention"]["no_answer_queries"] = int((~answerable).sum())
    lengths = settings["length_words"]
    slices = {
        "tickets": ticket_slices(test, predicted, settings["slices"], **lengths["tickets"]),
        "queries": query_slices(queries, ranked, ks, **lengths["queries"]),
    }

    must_pass = must_pass_results(classifier, cases)
    failed = [case for case in must_pass if not case["passed"]]
    not_numbers = [
        name
        for name, value in flatten({"classification": classification, "retrieval": retrieval}).items()
        if isinstance(value, float) and not math.isfinite(value)
    ]
    if not_numbers:  # NaN never reaches a metrics file, where a gate would have to guess what it means
        raise StageError(f"{', '.join(not_numbers)} cannot be computed (no test tickets or golden queries?)")

    with Live(dir=str(OUT_DIR), report=None, save_dvc_exp=False, dvcyaml=None) as live:
        for name, value in classification.items():
            if name != "per_class":
                live.log_metric(f"classification/{name}", value, plot=False)
        for label, scores in classification["per_class"].items():
            for name, value in scores.items():
                live.log_metric(f"classification/per_class/{label}/{name}", value, plot=False)
        for name, value in flatten(retrieval).items():
            live.log_metric("retrieval/" + name.replace(".", "/"), value, plot=False)
        for name, value in flatten(slices).items():
            live.log_metric("slices/" + name.replace(".", "/"), value, plot=False)
        live.log_metric("must_pass/total", len(must_pass), plot=False)
        live.log_metric("must_pass/failed", len(failed), plot=False)
        live.log_sklearn_plot("confusion_matrix", test["label"].tolist(), predicted, name="confusion_matrix")
        live.log_plot(
            "per_class_f1",
            [{"label": label, "f1": s["f1"]} for label, s in classification["per_class"].items()],
            x="f1",
            y="label",
            template="bar_horizontal",
            title="F1 per class (test split)",
        )
        live.log_plot(
            "recall_at_k",
            [{"k": k, "recall": round(recall_at_k(ranked_answerable, expected, k), DIGITS)} for k in curve_ks],
            x="k",
            y="recall",
            title="Retrieval recall@k (golden queries)",
        )
        live.log_plot(
            "slice_accuracy",
            plot_rows(slices["tickets"], "accuracy"),
            x="accuracy",
            y="slice",
            template="bar_horizontal",
            title="Accuracy per slice (test split)",
        )
        live.log_plot(
            "abstention",
            [
                {name: round(value, DIGITS) for name, value in point.items()}
                for point in abstention_curve(top_scores, answerable)
            ],
            x="threshold",
            y=["precision", "recall"],
            title="Abstention precision and recall over the threshold (golden queries)",
        )
    write_json(must_pass, OUT_DIR / "must_pass.json")
    write_json(manifest_of(measured), OUT_DIR / "models.json")
    write_csv(ticket_cases(test, predicted, confidence), CASES_DIR / "tickets.csv")
    write_csv(query_cases(queries, ranked, top_scores, answers), CASES_DIR / "queries.csv")

    shown = ", ".join(f"{k}={v}" for k, v in flatten(retrieval).items())
    print(
        f"evaluate: accuracy={classification['accuracy']} macro_f1={classification['macro_f1']} {shown} "
        f"must_pass={len(must_pass) - len(failed)}/{len(must_pass)}"
    )
    return 0


if __name__ == "__main__":
    run_stage(main)
