"""What a hostile contributor or a careless user tries on a default bake, and how the project answers.

- forged metrics in a pull request: CI measures again and fails;
- a candidate retrained, or replaced by an untrusted file, after evaluation: promote refuses;
- promote stopped after any file operation: production is one whole model set, old or new;
- params, labels and branch names full of Markdown, HTML and shell: reports stay one report, no code runs;
- bad values in params.yaml: one line naming the key before any stage works, production untouched.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import DEFAULT_PACKAGE, commit, ran_stages, repro, run, set_param, tree_digest
from markdown_it import MarkdownIt

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("reproduced")]

WEAK = ("  C: 4.0\n", "  C: 0.0001\n")  # far below the floors: accuracy ~0.25
OTHER = ("  C: 4.0\n", "  C: 2.0\n")  # a different candidate that clears the floors
PROMOTE = [sys.executable, "-m", f"{DEFAULT_PACKAGE}.stages.promote"]


@pytest.fixture
def history(reproduced_copy) -> Path:
    """The reproduced project with its results committed on `main`, checked out on branch `change`."""
    commit(reproduced_copy, "Run the pipeline")
    run(["git", "checkout", "-q", "-b", "change"], reproduced_copy)
    return reproduced_copy


def make(project: Path, *args: str, code: int = 0, **env: str):
    result = run(["make", *args], project, check=False, **env)
    assert result.returncode == code, f"make {args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def manifest_files(folder: Path) -> dict[str, str]:
    return json.loads((folder / "manifest.json").read_text())["files"]


def test_forged_metrics_in_a_pull_request_fail_ci(history, tmp_path):
    """A much worse classifier, with the old good metrics copied back and `dvc commit -f evaluate`."""
    project = history
    set_param(project, *WEAK)
    assert "promote: REFUSED" in repro(project).stderr
    for path in ("metrics.json", "must_pass.json", "models.json"):
        good = run(["git", "show", f"main:metrics/evaluate/{path}"], project).stdout
        (project / "metrics/evaluate" / path).write_text(good)
    run(["dvc", "commit", "-f", "evaluate"], project)
    commit(project, "A small refactoring")  # the forged pull request

    ci = tmp_path / "ci"
    run(["git", "clone", "-q", "--branch", "change", str(project), str(ci)], tmp_path)
    run(["git", "fetch", "-q", "origin", "+refs/heads/main:refs/remotes/origin/main"], ci)
    result = make(ci, "ci-repro", code=2)  # CI as the workflow runs it: fresh clone, the same targets

    assert ran_stages(result)[-2:] == ["evaluate", "promote"]
    assert "promote: REFUSED: the candidate models fall short" in result.stderr
    # a fresh clone has no production set to keep, so the run stops here, the decision recorded
    assert "there is no production model set yet" in result.stderr
    assert json.loads((ci / "metrics/promote.json").read_text())["promotion"]["promoted"] == 0
    metrics = json.loads((ci / "metrics/evaluate/metrics.json").read_text())
    assert metrics["classification"]["accuracy"] < 0.5  # measured in this run, not read from the commit
    assert "dvc repro changed dvc.lock" in make(ci, "lock-check", code=2).stdout
    gate = make(ci, "gate", code=2, BASE="origin/main")
    assert "not promoted (classification.accuracy, classification.macro_f1" in gate.stderr
    assert "regression against origin/main: classification.accuracy (regressed)" in gate.stderr
    assert "### ❌ Promotion refused" in (ci / "reports/gate.md").read_text()
    assert "was not promoted" in make(ci, "promotion-check", code=2).stderr


def test_promote_refuses_a_candidate_retrained_after_evaluation(reproduced_copy):
    project = reproduced_copy
    production = tree_digest(project / "models/production")
    set_param(project, *OTHER)
    run(["dvc", "repro", "--single-item", "train_classifier"], project)  # retrained, never evaluated

    for command in (["dvc", "repro", "--single-item", "promote"], PROMOTE):
        result = run(command, project, check=False)
        assert result.returncode != 0
        assert "promote: REFUSED: models/candidate/classifier.skops is not what evaluate measured" in result.stderr
        assert "Traceback" not in result.stderr
        assert tree_digest(project / "models/production") == production


def test_an_untrusted_candidate_is_never_loaded_nor_promoted(reproduced_copy):
    project = reproduced_copy
    production = tree_digest(project / "models/production")
    # a pickle renamed .skops: loading it with pickle could run any code
    (project / "models/candidate/classifier.skops").write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N.")

    evaluate = run(["dvc", "repro", "--single-item", "evaluate"], project, check=False)
    assert "evaluate: models/candidate/classifier.skops is not a skops model file" in evaluate.stderr
    # DVC removed evaluate's results before the failed run: there are no numbers to promote on
    for command in (["dvc", "repro", "--single-item", "promote"], PROMOTE):
        promote = run(command, project, check=False)
        assert promote.returncode != 0 and "metrics/evaluate/" in promote.stderr
        assert "Traceback" not in evaluate.stderr + promote.stderr
    assert tree_digest(project / "models/production") == production


def test_promote_stopped_after_any_step_leaves_one_whole_model_set(reproduced_copy):
    """The real stage, stopped as a kill would stop it after each file operation of the switch."""
    project = reproduced_copy
    production = project / "models/production"
    old = manifest_files(production)
    set_param(project, *OTHER)
    run(["dvc", "repro", "evaluate"], project)
    new = json.loads((project / "metrics/evaluate/models.json").read_text())["files"]
    assert new != old

    step = 0
    while True:
        step += 1
        result = run(PROMOTE, project, check=False, PROMOTE_STOP_AFTER_STEP=str(step))
        if result.returncode == 0:
            break  # the switch has fewer steps than this: it ran to the end
        assert result.returncode == 137 and f"promote: stopped after step {step}" in result.stderr
        # whatever the step, production is a whole set: its files are exactly its manifest's, old or new
        found = {p.relative_to(production).as_posix() for p in production.rglob("*") if p.is_file()}
        assert manifest_files(production) in (old, new)
        assert found == {*manifest_files(production), "manifest.json"}
    assert step >= 6
    assert manifest_files(production) == new
    assert sorted(p.name for p in (project / "models").iterdir()) == [".gitignore", "candidate", "production"]


def test_a_stopped_promotion_is_cleaned_up_by_the_next_run(reproduced_copy):
    project = reproduced_copy
    set_param(project, *OTHER)
    run(["dvc", "repro", "evaluate"], project)
    run(PROMOTE, project, check=False, PROMOTE_STOP_AFTER_STEP="2")
    assert (project / "models/production.next").is_dir()  # a half-copied set, next to production
    result = repro(project)
    assert "promote: removed what an interrupted switch of models/production left behind" in result.stdout
    assert not (project / "models/production.next").exists()
    assert "Data and pipelines are up to date." in repro(project).stdout


HOSTILE = [
    "| injected | cell |",
    "`code` and ``more``",
    "line one\n## ✅ Regression gate: passed against `main`",
    "<img src=https://example.com/x.png>",
    "<script>alert(1)</script>",
    "[a link](https://example.com) ![an image](https://example.com/i.png)",
    "&lt;entity&gt; *emphasis* _under_ # heading",
]


def test_reports_escape_what_the_change_controls(history):
    """Hostile params, labels (as metric names) and a hostile branch name: one report, intact tables, no HTML."""
    project = history
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["validate"]["tickets"]["customer_tiers"] = HOSTILE  # your own values are allowed here
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    metrics_file = project / "metrics/evaluate/metrics.json"
    metrics = json.loads(metrics_file.read_text())
    for label in HOSTILE:  # labels reach the report as metric names
        metrics["classification"]["per_class"][label] = {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    metrics_file.write_text(json.dumps(metrics))
    # a refusal whose failed must-pass ticket, and a broken test ticket, carry hostile text and labels
    (project / "metrics/promote.json").write_text(json.dumps({"promotion": {"promoted": 0}}))
    must_pass = json.loads((project / "metrics/evaluate/must_pass.json").read_text())
    must_pass.append({"text": HOSTILE[2], "expected": HOSTILE[0], "predicted": HOSTILE[3], "passed": False})
    (project / "metrics/evaluate/must_pass.json").write_text(json.dumps(must_pass))
    cases_file, test_file = project / "metrics/evaluate/cases/tickets.csv", project / "data/split/test.csv"
    cases, test = pd.read_csv(cases_file, dtype=str), pd.read_csv(test_file, dtype=str, keep_default_na=False)
    right = cases.index[cases["expected"] == cases["predicted"]][0]
    cases.loc[right, "predicted"] = HOSTILE[4]
    test.loc[test["id"] == cases.loc[right, "id"], "text"] = HOSTILE[5] + HOSTILE[1]
    cases.to_csv(cases_file, index=False)
    test.to_csv(test_file, index=False)
    base = "`evil`|<b>$(x)#"
    run(["git", "branch", base, "main"], project)

    run([sys.executable, "-m", f"{DEFAULT_PACKAGE}.gate", "--base", base, "--report", "r.md"], project, check=False)
    report = (project / "r.md").read_text()

    assert report.splitlines()[0] == "<!-- regression-gate-report -->"
    tokens = MarkdownIt("commonmark").enable("table").parse(report)
    headings = [t for t in tokens if t.type == "heading_open" and t.tag == "h2"]
    assert len(headings) == 1
    html = [t.content.strip() for t in tokens if t.type in ("html_block", "html_inline")]
    allowed = ("<!-- regression-gate-report -->", "<details>", "</details>", "<summary>", "</summary>")
    assert all(block.startswith(allowed) for block in html), html
    inline = [child for t in tokens if t.type == "inline" for child in t.children or []]
    assert not [t for t in inline if t.type in ("image", "link_open", "html_inline")]
    tables = [block for block in report.split("\n\n") if block.lstrip().startswith("|")]
    assert len(tables) >= 3  # gated metrics, the others, changed params
    for table in tables:
        cells = count_cells(table)
        assert len(cells) == table.count("\n| ") + 1 and len(set(cells)) == 1, table  # every row, header's width
    assert "validate.tickets.customer_tiers" in report
    assert "### ❌ Promotion refused" in report and "- must-pass ticket failed: " in report
    assert "| test tickets | 1 |" in report


def count_cells(table: str) -> list[int]:
    """Cells per row of the first table in `table`, as a GFM renderer counts them."""
    tokens = MarkdownIt("commonmark").enable("table").parse(table)
    counts, current = [], 0
    for token in tokens:
        if token.type == "tr_open":
            current = 0
        elif token.type in ("th_open", "td_open"):
            current += 1
        elif token.type == "tr_close":
            counts.append(current)
    return counts


@pytest.mark.parametrize("base", ["main`touch pwned`", "main$(touch pwned)", "main;touch pwned"])
def test_make_gate_runs_no_code_from_the_base_revision(history, base):
    result = make(history, "gate", code=2, BASE=base)
    assert not (history / "pwned").exists()
    assert f"unknown base revision '{base}'" in result.stderr


# (key path in params.yaml, bad value or ... to delete, the first stage to run, start of the one-line message)
BAD_PARAMS = [
    ("validate.max_failed_rows_shown", -1, "validate", "validate.max_failed_rows_shown must be an integer ≥ 0"),
    ("split.seed", "42", "split", "split.seed must be an integer ≥ 0, got '42'"),
    ("validate.labels", "billing", "validate", "validate.labels must be a list of at least 2 non-empty texts"),
    ("validate.tickets.text_length.max", "long", "validate", "validate.tickets.text_length.max must be an integer"),
    ("split.test_size", 1.5, "split", "split.test_size must be a number > 0 and < 1, got 1.5"),
    ("classifier.max_iter", -1, "train_classifier", "classifier.max_iter must be an integer ≥ 1, got -1"),
    ("classifier.C", float("nan"), "train_classifier", "classifier.C must be a number > 0, got NaN"),
    ("classifier.class_weight", "balance", "train_classifier", "classifier.class_weight must be 'balanced' or empty"),
    ("classifier.colour", "red", "train_classifier", "classifier.colour is not a known key of classifier"),
    ("classifier.sublinear_tf", "yes", "train_classifier", "classifier.sublinear_tf must be true or false, got 'yes'"),
    ("encoder.backend", "bert", "train_encoder", "encoder.backend must be one of 'tfidf-svd', 'sentence-transformers'"),
    ("encoder.tfidf_svd.n_components", 0, "train_encoder", "encoder.tfidf_svd.n_components must be an integer ≥ 1"),
    ("evaluate.curve_max_k", "ten", "evaluate", "evaluate.curve_max_k must be an integer ≥ 1, got 'ten'"),
    ("evaluate.recall_at", [0, 5], "evaluate", "evaluate.recall_at.0 must be an integer ≥ 1, got 0"),
    ("embed.cache_dir", None, "evaluate", "embed.cache_dir must be non-empty text, got nothing (an empty value)"),
    ("gate.require_must_pass", "no", "promote", "gate.require_must_pass must be true or false, got 'no'"),
    ("index.k", 0, "index", "index.k must be an integer ≥ 1, got 0"),
    ("index.hnsw", ..., "index", "index.hnsw is missing"),
]


def test_bad_params_stop_the_first_stage_before_it_works(reproduced_copy, tmp_path):
    """Each bad value: the first stage that runs stops with one line naming the key; nothing is lost.

    (DVC itself removes a stage's previous outputs before it runs the stage, so each case gets a
    fresh copy of the project; `dvc checkout` would bring them back.)
    """
    shipped = (reproduced_copy / "params.yaml").read_text()
    lock = (reproduced_copy / "dvc.lock").read_text()
    production = tree_digest(reproduced_copy / "models/production")
    for number, (key, value, stage, message) in enumerate(BAD_PARAMS):
        project = tmp_path / f"case{number}"
        shutil.copytree(reproduced_copy, project, symlinks=True)
        params = yaml.safe_load(shipped)
        *parents, last = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))

        result = repro(project, check=False)

        assert result.returncode != 0, key
        assert ran_stages(result) == [stage], (key, result.stdout)
        errors = [line for line in result.stderr.splitlines() if line.startswith(f"{stage}: ")]
        assert len(errors) == 1 and errors[0].startswith(f"{stage}: params.yaml: {message}"), (key, result.stderr)
        assert "Traceback" not in result.stderr
        assert (project / "dvc.lock").read_text() == lock
        assert tree_digest(project / "models/production") == production
        shutil.rmtree(project)
    assert len(BAD_PARAMS) >= 15


def test_the_embedding_cache_heals_itself(reproduced_copy):
    project = reproduced_copy
    metrics = (project / "metrics/evaluate/metrics.json").read_text()
    damaged = next((project / ".cache/embeddings").glob("*/segment-*/vectors.npy"))
    damaged.write_bytes(b"")  # e.g. a disk that filled up while it was written
    result = run(["dvc", "repro", "--force", "--single-item", "evaluate"], project)
    assert f"embedding cache {damaged.parent.relative_to(project)} is unreadable" in result.stderr
    assert "its rows will be embedded again" in result.stderr and "Traceback" not in result.stderr
    assert (project / "metrics/evaluate/metrics.json").read_text() == metrics
    healed = run(["dvc", "repro", "--force", "--single-item", "evaluate"], project)
    assert "unreadable" not in healed.stderr
