"""The regression gate and the CI commands, in a baked project with a real git history.

The reproduced default bake is committed on `main` as the baseline; each test works
on a branch of its own copy, changes a parameter or a rule as a user would, and runs
`python -m support_triage.gate` (or the Makefile targets CI calls).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import DEFAULT_PACKAGE, commit, ran_stages, repro, run, set_param

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("reproduced")]

GATE = [sys.executable, "-m", f"{DEFAULT_PACKAGE}.gate"]
ACCURACY_RULE = "    classification.accuracy:\n      direction: higher\n      abs_tol: 0.005\n"
MACRO_F1_RULE = "    classification.macro_f1:\n      direction: higher\n      abs_tol: 0.005\n"
# Fewer features: accuracy falls (by 0.0125 on the demo data), beyond the 0.005 tolerance but above the 0.85 floor.
DEGRADE = ("  max_features: 50000", "  max_features: 1000")
# A smaller C suits this data better: accuracy rises.
IMPROVE = ("  C: 4.0", "  C: 1.0")


@pytest.fixture
def history(reproduced_copy) -> Path:
    """The reproduced project with its results committed on `main`, checked out on branch `change`."""
    commit(reproduced_copy, "Run the pipeline")
    run(["git", "checkout", "-q", "-b", "change"], reproduced_copy)
    return reproduced_copy


def gate(project: Path, *args: str, code: int):
    result = run([*GATE, *args], project, check=False)
    assert result.returncode == code, f"gate exited {result.returncode}, not {code}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def report_row(report: str, metric: str) -> str:
    (row,) = [line for line in report.splitlines() if line.startswith(f"| `{metric}` |")]
    return row


def test_first_commit_has_no_baseline_and_passes_with_a_notice(reproduced_copy):
    """The bake's only commit predates any `dvc repro`: nothing to compare, and it says so."""
    result = gate(reproduced_copy, "--base", "main", "--json", code=0)
    outcome = json.loads(result.stdout)
    assert outcome["verdict"] == "pass"
    assert outcome["headline"] == "pass: no baseline at main, nothing to compare yet"
    assert any("main has no metrics" in note for note in outcome["notes"])
    numbers = {row["verdict"] for row in outcome["metrics"] if type(row["current"]) in (int, float)}
    assert numbers == {"new"}
    # drift.json's verdicts (true/false) and batch file name are reported, never compared
    others = {row["metric"] for row in outcome["metrics"] if row["verdict"] == "not a number"}
    assert others == {"detected", "batch.file"} | {m for m in others if m.endswith(".detected")}


def accuracy_of(project: Path) -> float:
    return json.loads((project / "metrics" / "evaluate" / "metrics.json").read_text())["classification"]["accuracy"]


def test_a_degrading_parameter_fails_the_gate_and_a_rule_change_decides(history):
    before = accuracy_of(history)
    set_param(history, *DEGRADE)
    # promote's floors still pass; drift checks the batch against the new classifier
    assert ran_stages(repro(history)) == ["train_classifier", "evaluate", "promote", "drift"]
    after = accuracy_of(history)
    assert 0.005 < before - after < 0.02 and after >= 0.85  # beyond abs_tol, within the looser rule below

    result = gate(history, "--base", "main", "--report", "reports/gate.md", code=1)
    report = (history / "reports" / "gate.md").read_text()
    assert report.splitlines()[1] == "## ❌ Regression gate: failed against `main`"
    accuracy = report_row(report, "classification.accuracy")
    change = f"{after - before:+.4f} ({(after - before) / before:+.1%})"
    assert f"| {before:.4f} | {after:.4f} | {change} | higher is better, abs 0.005 | ❌ regressed |" in accuracy
    assert report_row(report, "classifier.max_features") == "| `classifier.max_features` | 50000 | 1000 |"
    assert result.stderr.strip().startswith("gate: regression against main: classification.accuracy (regressed)")

    # The same metrics within a looser tolerance pass, and the report flags the edited rules.
    set_param(history, ACCURACY_RULE, ACCURACY_RULE.replace("0.005", "0.02"))
    set_param(history, MACRO_F1_RULE, MACRO_F1_RULE.replace("0.005", "0.02"))
    gate(history, "--base", "main", "--report", "reports/gate.md", code=0)
    report = (history / "reports" / "gate.md").read_text()
    assert report.splitlines()[1] == "## ✅ Regression gate: passed against `main`"
    assert "within tolerance" in report_row(report, "classification.accuracy")
    assert "This change edits the gate's own rules" in report

    # A relative tolerance of 0.1 % is tighter than the drop (over 0.5 %): the rule alone fails the gate.
    relative_rule = ACCURACY_RULE.replace("abs_tol: 0.005", "rel_tol: 0.001")
    set_param(history, ACCURACY_RULE.replace("0.005", "0.02"), relative_rule)
    result = gate(history, "--base", "main", "--json", code=1)
    rows = {row["metric"]: row for row in json.loads(result.stdout)["metrics"]}
    assert rows["classification.accuracy"]["verdict"] == "regressed"
    assert rows["classification.accuracy"]["rule"] == "higher is better, rel 0.1%"
    assert rows["classification.macro_f1"]["verdict"] == "within tolerance"


def test_an_improvement_passes(history):
    set_param(history, *IMPROVE)
    repro(history)
    result = gate(history, "--base", "main", "--json", code=0)
    rows = {row["metric"]: row for row in json.loads(result.stdout)["metrics"]}
    assert rows["classification.accuracy"]["verdict"] == "improved"
    assert not any(row["failed"] for row in rows.values())


def test_vanished_and_nan_metrics_fail(history):
    metrics_file = history / "metrics" / "evaluate" / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    del metrics["classification"]["accuracy"]
    metrics["retrieval"]["mrr"] = float("nan")
    metrics_file.write_text(json.dumps(metrics, indent=2))  # Python writes NaN, as a buggy stage might
    result = gate(history, "--base", "main", "--json", code=1)
    rows = {row["metric"]: row for row in json.loads(result.stdout)["metrics"]}
    assert (rows["classification.accuracy"]["verdict"], rows["classification.accuracy"]["failed"]) == ("vanished", True)
    assert (rows["retrieval.mrr"]["verdict"], rows["retrieval.mrr"]["failed"]) == ("not a number", True)


def test_a_base_without_one_metrics_file_reports_its_metrics_as_new(history):
    """A base from before a stage existed: that file's metrics are new, the others are compared."""
    run(["git", "checkout", "-q", "-b", "older", "main"], history)
    run(["git", "rm", "-q", "metrics/index.json"], history)
    run(["git", "commit", "-q", "-m", "Before the index stage"], history)
    run(["git", "checkout", "-q", "change"], history)
    result = gate(history, "--base", "older", "--json", code=0)
    rows = {row["metric"]: row["verdict"] for row in json.loads(result.stdout)["metrics"]}
    assert rows["index.recall_at_10_vs_exact"] == "new"
    assert rows["classification.accuracy"] == "unchanged"


@pytest.mark.parametrize(
    ("edit", "base", "message"),
    [
        (
            (ACCURACY_RULE, ACCURACY_RULE.replace("higher", "sideways")),
            "main",
            "params.yaml: gate.regression.classification.accuracy.direction must be one of 'higher', 'lower', "
            "got 'sideways'",
        ),
        (
            (ACCURACY_RULE, ACCURACY_RULE.replace("abs_tol: 0.005", "abs_tol: -1")),
            "main",
            "params.yaml: gate.regression.classification.accuracy.abs_tol must be a number ≥ 0, got -1",
        ),
        (
            (ACCURACY_RULE, ACCURACY_RULE.replace("classification.accuracy", "classification.acuracy")),
            "main",
            "gate.regression.classification.acuracy names no metric of either revision (a typo?)",
        ),
        (
            None,
            "origin/release",
            "unknown base revision 'origin/release': fetch it with "
            "`git fetch origin +refs/heads/release:refs/remotes/origin/release`",
        ),
    ],
    ids=["bad-direction", "negative-tolerance", "typo", "unknown-base"],
)
def test_what_cannot_be_compared_exits_2_with_one_line(history, edit, base, message):
    if edit:
        set_param(history, *edit)
    result = gate(history, "--base", base, "--report", "reports/gate.md", code=2)
    assert result.stderr.strip() == f"gate: cannot compare: {message}"
    report = (history / "reports" / "gate.md").read_text()
    assert report.splitlines()[1] == f"## ⚠️ Regression gate: cannot compare with `{base}`"


def test_an_unreadable_metrics_file_at_the_base_exits_2(history):
    run(["git", "checkout", "-q", "-b", "broken", "main"], history)
    (history / "metrics" / "evaluate" / "metrics.json").write_text('{"classification": {"accuracy": 0.9,')
    commit(history, "Break a metrics file")
    run(["git", "checkout", "-q", "change"], history)
    result = gate(history, "--base", "broken", code=2)
    assert result.stderr.startswith("gate: cannot compare: cannot read the metrics at broken:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_ci_commands_run_here(history):
    """The Makefile targets the workflows call, in their order, on a branch with a committed change."""
    set_param(history, *DEGRADE)
    repro(history)
    commit(history, "Fewer features")

    def make(target: str, code: int = 0, **variables: str):
        result = run(["make", target, *(f"{k}={v}" for k, v in variables.items())], history, check=False)
        assert result.returncode == code, f"make {target}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    ci_repro = make("ci-repro")
    assert "notice: no access to a DVC remote here" in ci_repro.stdout
    assert ran_stages(ci_repro) == ["evaluate", "promote"]  # measured and gated again; the rest is up to date
    assert "dvc.lock is committed and up to date" in make("lock-check").stdout
    make("gate", code=2, BASE="main")  # make's own exit code when the gate fails
    report = (history / "reports" / "gate.md").read_text()
    assert "❌ regressed" in report_row(report, "classification.accuracy")
    make("plots-diff", BASE="main")
    assert (history / "reports" / "plots" / "index.html").is_file()

    # A parameter changed and committed without rerunning the pipeline: CI reruns it, and the lock check fails.
    set_param(history, "  max_iter: 1000", "  max_iter: 2000")
    commit(history, "Change max_iter without running the pipeline")
    assert ran_stages(make("ci-repro")) == ["train_classifier", "evaluate", "promote", "drift"]  # evaluated once
    lock = make("lock-check", code=2)
    assert "dvc repro changed dvc.lock: the pipeline was not rerun before committing" in lock.stdout


def test_the_report_names_the_cases_a_change_broke_and_draws_valid_charts(history):
    """A worse classifier and a dense-only retriever: which tickets and queries changed, checked independently."""
    import pandas as pd
    import skops.io as sio

    def predictions(model: Path, texts: list[str]) -> list[str]:
        return sio.load(model, trusted=sio.get_untrusted_types(file=model)).predict(texts).tolist()

    base_model = history / "base-classifier.skops"
    base_model.write_bytes((history / "models/candidate/classifier.skops").read_bytes())
    base_queries = pd.read_csv(history / "metrics/evaluate/cases/queries.csv", keep_default_na=False)
    set_param(history, "  max_features: 50000", "  max_features: 300")
    set_param(history, "    dense_weight: 0.3 ", "    dense_weight: 1.0 ")
    repro(history)

    gate(history, "--base", "main", "--report", "reports/gate.md", code=1)
    report = (history / "reports/gate.md").read_text()
    changes = json.loads((history / "reports/case-changes.json").read_text())

    test = pd.read_csv(history / "data/split/test.csv", dtype=str, keep_default_na=False)
    before = predictions(base_model, test["text"].tolist())
    after = predictions(history / "models/candidate/classifier.skops", test["text"].tolist())
    broke = {i for i, label, b, a in zip(test["id"], test["label"], before, after, strict=True) if b == label != a}
    fixed = {i for i, label, b, a in zip(test["id"], test["label"], before, after, strict=True) if b != label == a}
    assert broke and {case["key"] for case in changes["test tickets"]["went_wrong"]} == broke
    assert {case["key"] for case in changes["test tickets"]["were_fixed"]} == fixed
    assert f"| test tickets | {len(broke)} | {len(fixed)} |" in report
    first = sorted(broke)[0]
    assert f"| `{first}: " in report  # the first broken ticket is listed with its text

    now = pd.read_csv(history / "metrics/evaluate/cases/queries.csv", keep_default_na=False)
    rank = {q: (int(r) or 10**9) for q, r in zip(base_queries["query"], base_queries["rank"], strict=True)}
    worse = {q for q, r in zip(now["query"], now["rank"], strict=True) if (int(r) or 10**9) > rank[q]}
    assert worse and {case["key"] for case in changes["golden queries"]["went_wrong"]} == worse

    assert report.count("```mermaid") == 2
    mermaid(history / "reports/gate.md")
    broken = history / "broken.md"
    broken.write_text("```mermaid\nxychart-beta\n    x-axis [1, 2\n```\n")
    assert mermaid(broken, check=False).returncode == 1  # the checker can fail


def mermaid(markdown: Path, check: bool = True):
    """Every ```mermaid block parsed by Mermaid itself (npm package, installed by `make test`), in Node.js."""
    modules = Path(sys.prefix) / "npm" / "node_modules"
    assert (modules / "mermaid").is_dir(), f"{modules}/mermaid is missing: `make test` installs it"
    node = Path(sys.executable).parent / "node"
    checker = Path(__file__).parent / "tools" / "mermaid_check.mjs"
    return run([node, checker, modules, markdown], markdown.parent, check=check)
