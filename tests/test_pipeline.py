"""The default bake, end to end: `dvc repro` offline, reruns, both gates, determinism."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from conftest import DEFAULT_PACKAGE, STAGES, ran_stages, repro, run, set_param, tree_digest

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("reproduced")]


def test_full_repro_runs_every_stage_and_writes_metrics(reproduced):
    project, result = reproduced
    assert ran_stages(result) == STAGES
    metrics = json.loads((project / "metrics/evaluate/metrics.json").read_text())
    # the demo data has overlap and label noise: good but not perfect scores
    assert 0.75 <= metrics["classification"]["accuracy"] < 1.0
    assert 0.5 <= metrics["retrieval"]["recall_at_5"] < 1.0
    assert metrics["must_pass"]["failed"] == 0
    index = json.loads((project / "metrics/index.json").read_text())["index"]
    assert set(index) == {"vectors", "dim", "recall_at_10_vs_exact", "abstention"}
    # the shipped threshold (0) never abstains: every question without an answer is a miss
    assert index["abstention"] == {"precision": 0.0, "recall": 0.0}
    for path in ("models/production/classifier.skops", "models/production/encoder", "data/index/vectors.npy"):
        assert (project / path).exists(), path

    shown = run(["dvc", "metrics", "show", "--json"], project).stdout
    assert "classification" in shown and "recall_at_10_vs_exact" in shown
    plots = run(["dvc", "plots", "show", "--json"], project).stdout
    assert "confusion_matrix.json" in plots and "recall_at_k.json" in plots


SAVED_INDEX_TOP_HITS = """
import json, sys
from {package}.encoders import Encoder
from {package}.io import read_csv
from {package}.vector_index import VectorIndex
index, encoder = VectorIndex.load("data/index"), Encoder("models/production/encoder")
texts = read_csv("data/validated/queries.csv")["query"].tolist()
rows = index.search(encoder.encode(texts), 1, encoder.query_terms(texts), encoder.dense_weight)
json.dump([index.ids[row[0]] for row in rows], sys.stdout)
"""


def test_the_saved_index_answers_as_evaluate_measured(reproduced):
    """The index on disk (built by `embed` and `index`) and evaluate's own exact search of the same
    models agree on every golden query's top article: the index stage's recall against exact search
    is 1.0 on this backend by construction, so this is the check that the saved index is right."""
    project, _ = reproduced
    top = json.loads(run([sys.executable, "-c", SAVED_INDEX_TOP_HITS.format(package=DEFAULT_PACKAGE)], project).stdout)
    measured = pd.read_csv(project / "metrics/evaluate/cases/queries.csv", dtype=str, keep_default_na=False)
    assert len(top) == len(measured) > 0
    assert top == measured["top"].tolist()


def test_second_repro_runs_no_stage(reproduced_copy):
    result = repro(reproduced_copy)
    assert ran_stages(result) == []
    assert "Data and pipelines are up to date." in result.stdout


def test_classifier_param_reruns_only_the_classifier_branch(reproduced_copy):
    set_param(reproduced_copy, "  C: 4.0\n", "  C: 2.0\n")
    # `drift` checks the incoming batch against the new production classifier
    assert ran_stages(repro(reproduced_copy)) == ["train_classifier", "evaluate", "promote", "drift"]


def test_encoder_param_does_not_refit_the_classifier(reproduced_copy):
    set_param(reproduced_copy, "    n_components: 128\n", "    n_components: 96\n")
    assert ran_stages(repro(reproduced_copy)) == ["train_encoder", "evaluate", "promote", "embed", "index", "drift"]


def test_a_new_blend_weight_reuses_every_vector_and_changes_retrieval(reproduced_copy):
    before = json.loads((reproduced_copy / "metrics/evaluate/metrics.json").read_text())["retrieval"]
    set_param(reproduced_copy, "    dense_weight: 0.3 ", "    dense_weight: 1.0 ")
    result = repro(reproduced_copy)
    assert ran_stages(result) == ["train_encoder", "evaluate", "promote", "embed", "index", "drift"]
    assert "embed: 35 articles, 0 embedded, 35 reused from cache (dim 128): .cache/embeddings already held them" in (
        result.stdout
    )
    assert not (reproduced_copy / "data/embeddings/terms").exists()  # dense only: no BM25 rows
    after = json.loads((reproduced_copy / "metrics/evaluate/metrics.json").read_text())["retrieval"]
    assert after["mrr"] < before["mrr"]  # on the demo data the blend beats the dense half alone


def test_generated_project_tests_pass(reproduced_copy):
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], reproduced_copy)
    assert " passed" in result.stdout and "failed" not in result.stdout


BROKEN_TICKETS = {
    "missing-label-column": (lambda t: t.drop(columns=["label"]), "expect_column_to_exist on tickets.label"),
    "unknown-labels": (
        lambda t: t.assign(label=t["label"].where(t.index % 50 != 0, "refunds")),
        "expect_column_values_to_be_in_set on tickets.label",
    ),
    "duplicate-ids": (
        lambda t: t.assign(id=t["id"].where(t.index % 40 != 1, t["id"].shift(1))),
        "expect_column_values_to_be_unique on tickets.id",
    ),
    "empty-texts": (
        lambda t: t.assign(text=t["text"].where(t.index % 30 != 0, "")),
        "expect_column_values_to_not_be_null on tickets.text",
    ),
}


@pytest.mark.parametrize("breakage", BROKEN_TICKETS, ids=list(BROKEN_TICKETS))
def test_bad_data_stops_the_pipeline_and_keeps_production(reproduced_copy, breakage):
    project = reproduced_copy
    production = tree_digest(project / "models/production")
    # data/raw/ holds plain files: an edit by hand is what `validate` checks next
    tickets = pd.read_csv(project / "data/raw/tickets.csv", dtype=str, keep_default_na=False)
    breaker, message = BROKEN_TICKETS[breakage]
    breaker(tickets).to_csv(project / "data/raw/tickets.csv", index=False)

    result = repro(project, check=False)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "validate: FAILED" in output and message in output
    assert ran_stages(result) == ["validate"]
    assert tree_digest(project / "models/production") == production


def test_own_data_moves_raw_data_to_dvc_and_reruns_from_validate_only_when_data_changes(reproduced_copy):
    project = reproduced_copy
    result = run(["make", "own-data"], project)
    assert "own-data: data/raw/*.csv are tracked by DVC" in result.stdout
    staged = run(["git", "status", "--porcelain", "--", "data/raw"], project).stdout.splitlines()
    assert sorted(staged) == sorted(
        [f"D  data/raw/{name}.csv" for name in ("kb", "queries", "tickets")]
        + [f"A  data/raw/{name}.csv.dvc" for name in ("kb", "queries", "tickets")]
        + ["A  data/raw/.gitignore"]
    )
    assert ran_stages(repro(project)) == []
    kb = pd.read_csv(project / "data/raw/kb.csv", dtype=str, keep_default_na=False)
    kb.loc[0, "body"] += " Contact us if the steps above did not help."
    kb.to_csv(project / "data/raw/kb.csv", index=False)
    result = repro(project)
    assert ran_stages(result)[0] == "validate" and "train_encoder" in ran_stages(result)


def test_a_bad_must_pass_file_is_explained_in_one_line(reproduced_copy):
    project = reproduced_copy
    production = tree_digest(project / "models/production")
    with open(project / "golden/must_pass_tickets.csv", "a") as cases:
        cases.write("Where is my parcel?,shiping,typo in the label\n")

    result = repro(project, check=False)

    assert result.returncode != 0
    assert "evaluate: golden/must_pass_tickets.csv: every row needs a text and one of validate.labels" in result.stderr
    assert "'shiping'" in result.stderr and "Traceback" not in result.stderr
    assert tree_digest(project / "models/production") == production


def test_threshold_above_the_achieved_metric_refuses_promotion(reproduced_copy):
    project = reproduced_copy
    production = tree_digest(project / "models/production")
    # a different candidate, which a passing gate would copy into production
    set_param(project, "  C: 4.0\n", "  C: 0.5\n")
    set_param(project, "      accuracy: 0.85\n", "      accuracy: 0.999\n")

    result = repro(project)  # a refusal is a result: the run completes

    output = result.stdout + result.stderr
    assert "promote: REFUSED" in output
    assert "classification.accuracy" in output and "TOO LOW" in output
    assert ran_stages(result) == ["train_classifier", "evaluate", "promote"]
    assert tree_digest(project / "models/production") == production
    decision = json.loads((project / "metrics/promote.json").read_text())["promotion"]
    assert decision == {"promoted": 0, "floors_missed": 1, "must_pass_failed": 0}
    strict = run(["make", "repro"], project, check=False)  # the documented strict command fails on it
    assert strict.returncode == 2
    assert "promote: REFUSED: the candidate of the last run was not promoted" in strict.stderr
    assert "Data and pipelines are up to date." in repro(project).stdout  # recorded, not retried
