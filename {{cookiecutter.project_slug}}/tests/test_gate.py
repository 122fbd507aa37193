import copy
import json
import math
import subprocess
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }} import gate
from {{ cookiecutter.package_name }}.casediff import CaseChange, CaseDiff
from {{ cookiecutter.package_name }}.gate import (
    EXIT_CANNOT_COMPARE,
    EXIT_PASS,
    EXIT_REGRESSION,
    GateError,
    GateResult,
    Row,
    Rule,
    compare,
    compare_all,
    format_value,
    is_number,
    json_report,
    markdown_report,
    md_code,
    md_text,
    parse_rules,
    rule_for,
)
from {{ cookiecutter.package_name }}.stages.promote import Decision

RULES = parse_rules(
    {
        "classification.accuracy": {"direction": "higher", "abs_tol": 0.01},
        "latency_ms": {"direction": "lower", "rel_tol": 0.10},
        "classification.per_class.*.f1": {"direction": "higher", "abs_tol": 0.05, "required": False},
    }
)
BASE = {"classification.accuracy": 0.90, "latency_ms": 100.0, "classification.per_class.billing.f1": 0.80}


def verdicts(current, base=BASE, rules=RULES):
    return {row.metric: (row.verdict, row.failed) for row in compare_all(base, current, rules)}


def test_within_tolerance_passes_and_beyond_it_fails():
    def accuracy(value):
        return verdicts({**BASE, "classification.accuracy": value})["classification.accuracy"]

    assert accuracy(0.891) == ("within tolerance", False)
    assert accuracy(0.889) == ("regressed", True)
    assert accuracy(0.95) == ("improved", False)
    assert accuracy(0.90) == ("unchanged", False)


def test_lower_is_better_with_a_relative_tolerance():
    assert verdicts({**BASE, "latency_ms": 109.0})["latency_ms"] == ("within tolerance", False)
    assert verdicts({**BASE, "latency_ms": 111.0})["latency_ms"] == ("regressed", True)
    assert verdicts({**BASE, "latency_ms": 50.0})["latency_ms"] == ("improved", False)


def test_a_rule_that_is_not_required_warns_without_failing():
    current = {**BASE, "classification.per_class.billing.f1": 0.5}
    assert verdicts(current)["classification.per_class.billing.f1"] == ("worse (not required)", False)


def test_vanished_and_nan_metrics_fail_when_required():
    current = {"latency_ms": math.nan, "classification.per_class.billing.f1": 0.8}
    result = verdicts(current)
    assert result["classification.accuracy"] == ("vanished", True)
    assert result["latency_ms"] == ("not a number", True)


def test_new_text_and_unruled_metrics_are_reported_only():
    current = {**BASE, "index.note": "rebuilt", "extra.count": 3}
    result = verdicts(current, base={**BASE, "extra.count": 2})
    assert result["index.note"] == ("not a number", False)
    assert result["extra.count"] == ("changed", False)
    assert verdicts(current, base=None)["classification.accuracy"] == ("new", False)


def test_an_exact_name_wins_over_a_pattern():
    rules = parse_rules({"a.*": {"direction": "lower"}, "a.b": {"direction": "higher"}})
    assert rule_for("a.b", rules).direction == "higher"
    assert rule_for("a.c", rules).direction == "lower"
    assert rule_for("b", rules) is None


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"m": {"direction": "up"}}, "gate.regression.m.direction must be one of 'higher', 'lower', got 'up'"),
        ({"m": {"direction": "higher", "abs_tol": -1}}, "gate.regression.m.abs_tol must be a number ≥ 0, got -1"),
        ({"m": {"direction": "higher", "rel_tol": "5%"}}, "gate.regression.m.rel_tol must be a number ≥ 0, got '5%'"),
        ({"m": {"direction": "higher", "required": "yes"}}, "gate.regression.m.required must be true or false"),
        ({"m": {"direction": "higher", "tolerance": 1}}, "gate.regression.m.tolerance is not a known key"),
        ({"m": 0.01}, "gate.regression.m must be a mapping with the keys direction"),
        (["m"], "gate.regression must be a mapping of names to"),
    ],
)
def test_bad_rules_are_refused_with_their_key(rules, message):
    with pytest.raises(GateError, match="gate.regression") as error:
        parse_rules(rules)
    assert message in str(error.value)


def test_a_rule_naming_no_metric_is_refused():
    with pytest.raises(GateError, match="names no metric"):
        compare_all(BASE, BASE, [Rule("classification.acuracy", "higher")])


def test_report_puts_the_verdict_first_and_failures_on_top():
    # "zz.score" fails and sorts last by name: only the failures-first order puts it on top
    rules = parse_rules({"aa.score": {"direction": "higher"}, "zz.score": {"direction": "higher"}})
    rows = compare_all({"aa.score": 0.5, "zz.score": 0.9}, {"aa.score": 0.6, "zz.score": 0.8, "extra": 1}, rules)
    result = GateResult(EXIT_REGRESSION, "regression against main: zz.score", "main", "abc1234", rows)
    lines = markdown_report(result).splitlines()
    assert lines[1] == "## ❌ Regression gate: failed against `main`"
    header = lines.index("| metric | base | current | change | rule | verdict |")
    rule = "higher is better, no tolerance"
    assert lines[header + 2] == f"| `zz.score` | 0.9000 | 0.8000 | -0.1000 (-11.1%) | {rule} | ❌ regressed |"
    assert lines[header + 3] == f"| `aa.score` | 0.5000 | 0.6000 | +0.1000 (+20.0%) | {rule} | ✅ improved |"
    assert json_report(GateResult(EXIT_PASS, "pass", "main"))["verdict"] == "pass"


def test_changes_at_float_noise_are_neither_regressions_nor_improvements():
    """EPSILON (1e-9) is the line between noise and a change, on every comparison."""
    strict = Rule("m", "higher")
    assert compare("m", 0.0, -1e-9, strict, False, False).verdict == "unchanged"
    assert compare("m", 0.0, 1e-9, strict, False, False).verdict == "unchanged"
    assert compare("m", 0.0, -3e-9, strict, False, False).verdict == "regressed"
    assert compare("m", 0.0, 3e-9, strict, False, False).verdict == "improved"
    assert compare("m", 0.0, 1e-9, None, False, False).verdict == "unchanged"
    assert compare("m", 0.0, 3e-9, None, False, False).verdict == "changed"
    assert compare("m", 0.0, -2e-9, Rule("m", "higher", abs_tol=1e-9), False, False).verdict == "within tolerance"


def test_every_verdict_keeps_the_values_and_the_rule_it_judged():
    rule = Rule("m", "higher", abs_tol=0.1)
    cases = [
        ((0.5, None, False, True), "vanished", True),
        ((0.5, math.nan, False, False), "not a number", True),
        ((None, 0.5, True, False), "new", False),
        (("x", 0.5, False, False), "no baseline (base is not a number)", False),
        ((0.5, 0.45, False, False), "within tolerance", False),
        ((0.5, 0.3, False, False), "regressed", True),
        ((0.5, 0.6, False, False), "improved", False),
    ]
    for (base, current, base_missing, current_missing), verdict, failed in cases:
        row = compare("m", base, current, rule, base_missing, current_missing)
        assert (row.metric, row.rule, row.verdict, row.failed) == ("m", rule, verdict, failed)
        assert row.base is base or (base_missing and row.base is None)
        assert row.current is current or (current_missing and row.current is None)
    unruled = compare("m", 0.5, 0.6, None, False, False)
    assert (unruled.metric, unruled.base, unruled.current, unruled.rule) == ("m", 0.5, 0.6, None)


def test_the_command_line_help_names_every_option(capsys):
    with pytest.raises(SystemExit) as exit_code:
        gate.main(["--help"])
    assert exit_code.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith(
        "usage: python -m {{ cookiecutter.package_name }}.gate [-h] [--base BASE] [--report PATH] [--json] [--print-base]"
    )
    assert "Fail when a metric got worse than at the base revision (rules: gate.regression in params.yaml)." in text
    assert "--base BASE revision to compare with (default: the CI base branch, else main)" in text
    assert "--report PATH also write the Markdown report to PATH" in text
    assert "--json print the result as JSON instead of the report" in text
    assert "--print-base print the revision it would compare with, and exit" in text
    assert "--params" not in text


def test_a_change_of_exactly_the_tolerance_is_within_it():
    rule = Rule("m", "higher", abs_tol=0.25)
    assert compare("m", 1.0, 0.75, rule, False, False).verdict == "within tolerance"
    assert compare("m", 1.0, 0.7499, rule, False, False).verdict == "regressed"
    lower = Rule("m", "lower", rel_tol=0.5)
    assert compare("m", 4.0, 6.0, lower, False, False).verdict == "within tolerance"
    assert compare("m", 4.0, 6.001, lower, False, False).verdict == "regressed"
    assert compare("m", 4.0, 3.0, lower, False, False).verdict == "improved"


def test_the_tolerance_is_the_larger_of_absolute_and_relative():
    rule = Rule("m", "higher", abs_tol=0.1, rel_tol=0.5)
    assert rule.allowed(-4.0) == 2.0  # relative to |base|
    assert rule.allowed(0.1) == 0.1
    assert Rule("m", "higher").allowed(5.0) == 0.0


def test_rules_describe_themselves():
    assert Rule("m", "higher").describe() == "higher is better, no tolerance"
    assert Rule("m", "lower", abs_tol=0.5, rel_tol=0.02, required=False).describe() == (
        "lower is better, abs 0.5, rel 2.0%, not required"
    )
    assert Rule("m", "higher", rel_tol=0.1).describe() == "higher is better, rel 10.0%"


def test_what_counts_as_a_number():
    assert is_number(0) and is_number(-2.5) and is_number(math.inf)
    assert not is_number(True) and not is_number(math.nan) and not is_number("1") and not is_number(None)


def test_a_base_that_is_not_a_number_is_no_baseline_and_unruled_changes_are_reported():
    rule = Rule("m", "higher")
    assert compare("m", "n/a", 0.5, rule, False, False).verdict == "no baseline (base is not a number)"
    assert compare("m", None, 0.5, rule, True, False).verdict == "new"
    assert compare("m", 0.5, 0.5 + 1e-12, None, False, False).verdict == "unchanged"
    assert compare("m", 0.5, 0.6, None, False, False).verdict == "changed"
    assert not compare("m", 0.5, None, None, False, True).failed  # vanished, but no rule requires it
    assert compare("m", 0.5, None, Rule("m", "higher", required=False), False, True).verdict == "vanished"


def test_the_change_column_shows_absolute_and_relative_differences():
    assert Row("m", 0.5, 0.55, None, "").change == "+0.0500 (+10.0%)"
    assert Row("m", 2, 5, None, "").change == "+3 (+150.0%)"
    assert Row("m", 4, 3, None, "").change == "-1 (-25.0%)"
    assert Row("m", 0, 0.25, None, "").change == "+0.2500"  # no relative change from zero
    assert Row("m", 0.5, 0.5, None, "").change == "0"
    assert Row("m", None, 0.5, None, "").change == "" and Row("m", 0.5, "x", None, "").change == ""


def test_values_and_text_are_escaped_for_markdown():
    assert format_value(None) == "–"
    assert format_value(0.123456) == "0.1235" and format_value(7) == "7"
    assert format_value(math.nan) == "`NaN`"
    assert format_value("a|b") == "`a\\|b`"
    assert format_value({"k": 1}) == '`{"k": 1}`'
    assert md_text("[x](http://e) *b* <script>&") == "\\[x\\]\\(http://e\\) \\*b\\* &lt;script&gt;&amp;"
    assert md_text("two\nlines") == "two lines"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x") == "`` `x ``" and md_code("") == "`  `"
    assert md_code("a|b") == "`a|b`" and md_code("a|b", in_table=True) == "`a\\|b`"


def refusal():
    rows = [("classification.accuracy", 0.8, 0.85, False), ("retrieval.mrr", 0.6, 0.5, True)]
    return Decision(rows, [{"text": "app crashes", "expected": "bug", "predicted": "billing", "passed": False}], 2)


FULL_REPORT = """\
<!-- regression-gate-report -->
## ❌ Regression gate: failed against `main`

**not promoted**

Base: `main` at commit `abc1234`. Rules: `gate.regression` in params.yaml.

> note \\*one\\*

### ❌ Promotion refused

`promote` did not install this candidate; production is unchanged.

| metric | achieved | floor | verdict |
|---|---:|---:|---|
| `classification.accuracy` | 0.8000 | 0.8500 | ❌ too low |
| `retrieval.mrr` | 0.6000 | 0.5000 | ✅ ok |

- must-pass ticket failed: `app crashes`: expected `bug`, got `billing`

| metric | base | current | change | rule | verdict |
|---|---:|---:|---:|---|---|
| `acc` | 0.9000 | 0.9000 | 0 | higher is better, no tolerance | ✅ unchanged |

<details><summary>2 metrics without a rule (1 changed): reported only</summary>

| metric | base | current | change | rule | verdict |
|---|---:|---:|---:|---|---|
| `n` | 1 | 2 | +1 (+100.0%) |  | changed |
| `same` | 2 | 2 | 0 |  | unchanged |

</details>

### Cases

| cases | right → wrong | wrong → right | unchanged | new | gone |
|---|---:|---:|---:|---:|---:|
| tickets | 1 | 0 | 3 | 1 | 0 |
| queries | 0 | 1 | 0 | 0 | 2 |

<details><summary>tickets that went wrong (all 1)</summary>

| case | expected | before | after |
|---|---|---|---|
| `T1: charged twice` | `billing` | `billing` | `bug` |

</details>

<details><summary>queries that were fixed (all 1)</summary>

| case | expected | before | after |
|---|---|---|---|
| `q7` | `KB1` | `not found` | `1` |

</details>

Predictions that changed, by expected and predicted label:

| expected | predicted | base | now |
|---|---|---:|---:|
| `billing` | `bug` | 0 | 1 |

### Base and change, side by side
```mermaid
```

### Cost of the evaluation

| stage | wall (s) | CPU (s) |
|---|---:|---:|
| `evaluate` | 1.2 | 1.0 |
| `promote` | 0.5 | 0.2 |
| total | 1.8 | 1.2 |

Stages that ran in this workspace, as each last ran (`reports/timings/`).

### Changed parameters

| parameter | base | current |
|---|---|---|
| `classifier.C` | 4.0000 | 1.0000 |

### Plots

Compare them with `dvc plots diff main`; CI renders them into `reports/plots/`.
- `plots/a.json`

Exit codes: 0 pass, 1 regression, 2 cannot compare.
"""


def test_a_full_report_reads_as_a_pull_request_comment():
    """Every section, in order, exactly as the comment shows it."""
    rules = parse_rules({"acc": {"direction": "higher"}})
    rows = compare_all({"acc": 0.9, "n": 1, "same": 2}, {"acc": 0.9, "n": 2, "same": 2}, rules)
    change = CaseChange("T1", "charged twice", "billing", "billing", "bug")
    fixed = CaseChange("q7", "q7", "KB1", "not found", "1")
    result = GateResult(
        EXIT_REGRESSION,
        "not promoted",
        "main",
        "abc1234",
        rows,
        changed_params=[("classifier.C", 4.0, 1.0)],
        notes=["note *one*"],
        plots=["plots/a.json"],
        refusal=refusal(),
        cases=[
            CaseDiff("tickets", degraded=[change], unchanged=3, new=1),
            CaseDiff("queries", improved=[fixed], gone=2),
        ],
        confusion=[("billing", "bug", 0, 1)],
        charts=["```mermaid", "```"],
        costs=[{"stage": "evaluate", "wall_s": 1.25, "cpu_s": 1.0}, {"stage": "promote", "wall_s": 0.5, "cpu_s": 0.25}],
    )
    assert markdown_report(result) == FULL_REPORT


def test_reports_of_a_pass_and_of_a_failure_to_compare():
    passed = markdown_report(GateResult(EXIT_PASS, "pass: fine", "main", "abc1234")).splitlines()
    assert passed[1] == "## ✅ Regression gate: passed against `main`"
    assert "None: params.yaml is as at `main`." in passed
    broken = markdown_report(GateResult(EXIT_CANNOT_COMPARE, "cannot compare: x", "main")).splitlines()
    assert broken[1] == "## ⚠️ Regression gate: cannot compare with `main`"
    assert "### Changed parameters" not in broken and not any(line.startswith("Base:") for line in broken)


def test_only_the_first_cases_are_listed_in_the_report():
    changes = [CaseChange(f"q{i}", f"q{i}", "KB1", "1", "not found") for i in range(12)]
    result = GateResult(EXIT_PASS, "pass", "main", cases=[CaseDiff("queries", degraded=changes)])
    report = markdown_report(result)
    assert "<details><summary>queries that went wrong (first 10 of 12)</summary>" in report
    assert "| `q9` |" in report and "| `q10` |" not in report


def test_the_json_report_has_the_verdict_the_rows_and_the_refusal():
    rows = compare_all({"acc": 0.9}, {"acc": 0.8}, parse_rules({"acc": {"direction": "higher"}}))
    result = GateResult(EXIT_REGRESSION, "bad", "main", "abc", rows, changed_params=[("p", 1, 2)], refusal=refusal())
    report = json_report(result)
    assert report["verdict"] == "regression" and report["exit_code"] == 1 and report["base_commit"] == "abc"
    assert report["metrics"] == [
        {
            "metric": "acc",
            "base": 0.9,
            "current": 0.8,
            "change": "-0.1000 (-11.1%)",
            "rule": "higher is better, no tolerance",
            "verdict": "regressed",
            "failed": True,
        }
    ]
    assert report["changed_params"] == [{"name": "p", "base": 1, "current": 2}]
    assert (report["base"], report["notes"], report["plots"], report["headline"]) == ("main", [], [], "bad")
    assert report["promotion_refused"]["floors"][0] == {
        "metric": "classification.accuracy",
        "achieved": 0.8,
        "floor": 0.85,
        "passed": False,
    }
    assert report["promotion_refused"]["must_pass_failed"][0]["text"] == "app crashes"
    assert json_report(GateResult(EXIT_CANNOT_COMPARE, "x", "main"))["verdict"] == "cannot compare"
    unruled = compare_all({"x": 1.0}, {"x": 2.0}, parse_rules({}))  # reported, no rule
    rows = json_report(GateResult(EXIT_PASS, "ok", "main", "abc", unruled))["metrics"]
    assert [row["rule"] for row in rows] == [None]
    assert json_report(GateResult(EXIT_PASS, "x", "main"))["promotion_refused"] is None


def test_the_default_base_comes_from_the_environment(monkeypatch):
    for name in ("BASE", "GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert gate.default_base() == "main"
    monkeypatch.setenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "develop")
    assert gate.default_base() == "origin/develop"
    monkeypatch.setenv("GITHUB_BASE_REF", "release")
    assert gate.default_base() == "origin/release"
    monkeypatch.setenv("BASE", "v1.0")
    assert gate.default_base() == "v1.0"


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_revisions_and_experiment_names_resolve_to_commits(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("a")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "a")
    head = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "update-ref", "refs/exps/ab/cd/baseline1/bold-hare", head)
    monkeypatch.chdir(tmp_path)
    assert gate.resolve_commit("main") == head
    assert gate.resolve_commit("bold-hare") == head
    assert gate.experiment_commit("bold") is None
    with pytest.raises(GateError, match="unknown base revision '--output=x'$"):
        gate.resolve_commit("--output=x")
    with pytest.raises(GateError, match="fetch it with `git fetch origin \\+refs/heads/dev:refs/remotes/origin/dev`"):
        gate.resolve_commit("origin/dev")


def test_main_prints_the_base_and_ends_any_failure_as_one_line_with_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BASE", raising=False)
    assert gate.main(["--print-base", "--base", "feature"]) == EXIT_PASS
    assert capsys.readouterr().out == "feature\n"
    (tmp_path / "params.yaml").write_text("gate: {}\n")
    assert gate.main(["--base", "main", "--json", "--params", "absent.yaml"]) == EXIT_CANNOT_COMPARE
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["verdict"] == "cannot compare" and outcome["headline"].startswith("cannot compare: ")
    assert "\n" not in outcome["headline"]
    assert gate.main(["--base", "main", "--report", "out/gate.md"]) == EXIT_CANNOT_COMPARE
    assert (tmp_path / "out" / "gate.md").read_text().splitlines()[1].startswith("## ⚠️ Regression gate: cannot compare")
    assert capsys.readouterr().err.startswith("gate: cannot compare: ")


PROJECT_PARAMS = yaml.safe_load(Path("params.yaml").read_text())


def params_with(c):
    """The project's params with a classifier C, one floor and one regression rule (on metrics the test writes)."""
    params = copy.deepcopy(PROJECT_PARAMS)
    params["classifier"]["C"] = c
    params["gate"] |= {"thresholds": {"classification": {"accuracy": 0.5}}, "require_must_pass": False}
    params["gate"]["regression"] = {"classification.accuracy": {"direction": "higher", "abs_tol": 0.01}}
    return yaml.safe_dump(params)


DVC_YAML = """\
metrics:
- metrics/evaluate/metrics.json
stages:
  promote:
    cmd: "true"
    metrics:
    - metrics/promote.json:
        cache: false
plots:
- metrics/evaluate/plots/recall.json
"""


def write_run(repo, accuracy, promoted=1, c=4.0):
    """What a pipeline run leaves in the workspace: params, metrics and the promotion decision."""
    (repo / "params.yaml").write_text(params_with(c))
    (repo / "metrics" / "evaluate").mkdir(parents=True, exist_ok=True)
    metrics = {"classification": {"accuracy": accuracy, "macro_f1": 0.8}}
    (repo / "metrics" / "evaluate" / "metrics.json").write_text(json.dumps(metrics))
    (repo / "metrics" / "evaluate" / "must_pass.json").write_text("[]")
    (repo / "metrics" / "promote.json").write_text(json.dumps({"promotion": {"promoted": promoted}}))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git + DVC repository whose `main` has one pipeline run committed; the workspace is on `change`."""
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / ".dvc").mkdir()  # what `dvc init` leaves that DVC's API needs; its logger is not set up in-process
    (tmp_path / ".dvc" / "config").write_text("")
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    write_run(tmp_path, 0.9)
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "run")
    git(tmp_path, "checkout", "-q", "-b", "change")
    monkeypatch.chdir(tmp_path)
    for name in ("BASE", "GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_gate_compares_the_workspace_with_a_committed_run(repo):
    write_run(repo, 0.85, c=1.0)
    result = gate.run_gate("main")
    assert result.exit_code == EXIT_REGRESSION and result.base_commit == git(repo, "rev-parse", "--short=7", "main")
    assert result.headline == "regression against main: classification.accuracy (regressed)"
    rows = {row.metric: (row.base, row.current, row.verdict) for row in result.rows}
    assert rows["classification.accuracy"] == (0.9, 0.85, "regressed")
    assert rows["classification.macro_f1"] == (0.8, 0.8, "unchanged")
    assert result.changed_params == [("classifier.C", 4.0, 1.0)]
    assert result.plots == ["metrics/evaluate/plots/recall.json"] and result.refusal is None

    write_run(repo, 0.895)
    result = gate.run_gate("main")
    assert result.exit_code == EXIT_PASS and result.changed_params == []
    assert result.headline == "pass: no required metric got worse than at main beyond its tolerance"


def test_a_refused_candidate_fails_the_gate_with_promotes_reasons(repo, capsys):
    write_run(repo, 0.4, promoted=0)
    assert gate.main(["--report", "reports/gate.md"]) == EXIT_REGRESSION  # base: main, by default
    headline = "not promoted (classification.accuracy); regression against main: classification.accuracy (regressed)"
    assert capsys.readouterr().err.strip() == f"gate: {headline}"
    report = (repo / "reports" / "gate.md").read_text()
    assert (
        "### ❌ Promotion refused" in report
        and "| `classification.accuracy` | 0.4000 | 0.5000 | ❌ too low |" in report
    )


def test_a_base_without_metrics_has_no_baseline_and_a_missing_workspace_file_cannot_compare(repo):
    git(repo, "checkout", "-q", "--orphan", "empty")
    git(repo, "rm", "-q", "-r", "--cached", "metrics")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "no metrics")
    result = gate.run_gate("empty")
    assert result.exit_code == EXIT_PASS and result.headline == "pass: no baseline at empty, nothing to compare yet"
    assert {row.verdict for row in result.rows} == {"new"}
    assert "empty has no metrics (a first commit, or the pipeline never ran there)." in result.notes

    (repo / "metrics" / "promote.json").unlink()
    with pytest.raises(GateError, match="metrics/promote.json is missing in the workspace: run `dvc repro` first"):
        gate.run_gate("main")


def test_a_base_from_before_a_stage_counts_that_stages_metrics_as_new(repo):
    git(repo, "checkout", "-q", "-b", "older", "main")
    git(repo, "rm", "-q", "metrics/promote.json")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "before promote")
    git(repo, "checkout", "-q", "change")
    assert gate.read_base_metrics(git(repo, "rev-parse", "older")) == {
        "classification.accuracy": 0.9,
        "classification.macro_f1": 0.8,
    }
    rows = {row.metric: row.verdict for row in gate.run_gate("older").rows}
    assert rows == {
        "classification.accuracy": "unchanged",
        "classification.macro_f1": "unchanged",
        "promotion.promoted": "new",
    }
