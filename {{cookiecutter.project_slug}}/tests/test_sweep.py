import json
import subprocess
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }} import sweep
from {{ cookiecutter.package_name }}.casediff import CaseChange, CaseDiff
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.stages.promote import Decision
from {{ cookiecutter.package_name }}.sweep import Result, SweepError, best_of, load_sweep, markdown

PARAMS = load_params(Path("params.yaml").resolve())
# Like sweeps/classifier-c.yaml (the template's tests plan that file itself; mutmut's copy has no sweeps/).
EXAMPLE = "metric: classification.macro_f1\ngrid:\n  classifier.C: [0.5, 1.0, 2.0, 8.0]\n"


def write(tmp_path, text, name="try"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def loaded(tmp_path, text, name="try"):
    return load_sweep(write(tmp_path, text, name), PARAMS)


def test_the_example_sweep_plans_one_named_cell_per_value(tmp_path):
    planned = sweep.plan(loaded(tmp_path, EXAMPLE, name="classifier-c"))
    assert planned["sweep"] == "classifier-c"
    assert (planned["metric"], planned["direction"]) == ("classification.macro_f1", "higher")  # from gate.regression
    assert [(cell["name"], cell["overrides"]) for cell in planned["cells"]] == [
        ("classifier-c-1", ["classifier.C=0.5"]),
        ("classifier-c-2", ["classifier.C=1.0"]),
        ("classifier-c-3", ["classifier.C=2.0"]),
        ("classifier-c-4", ["classifier.C=8.0"]),
    ]


def test_every_combination_once_first_key_slowest_fixed_values_first(tmp_path):
    found = loaded(
        tmp_path,
        "metric: retrieval.mrr\nset:\n  encoder.hybrid.dense_weight: 0.5\n"
        "grid:\n  classifier.C: [1, 2]\n  index.k: [5, 10, 20]\n",
        name="two-d",
    )
    assert found.names() == [f"two-d-{i}" for i in range(1, 7)]
    assert [cell.overrides for cell in found.cells[:4]] == [
        ["encoder.hybrid.dense_weight=0.5", "classifier.C=1", "index.k=5"],
        ["encoder.hybrid.dense_weight=0.5", "classifier.C=1", "index.k=10"],
        ["encoder.hybrid.dense_weight=0.5", "classifier.C=1", "index.k=20"],
        ["encoder.hybrid.dense_weight=0.5", "classifier.C=2", "index.k=5"],
    ]
    assert found.grid_keys == ["classifier.C", "index.k"]
    assert found.fixed == {"encoder.hybrid.dense_weight": 0.5}


def test_overrides_are_yaml_values_dvc_reads_back_as_written(tmp_path):
    found = loaded(
        tmp_path,
        "metric: classification.macro_f1\ngrid:\n  classifier.class_weight: [null, balanced]\n"
        "  classifier.ngram_range: [[1, 3]]\n  classifier.sublinear_tf: [false]\n",
    )
    assert found.cells[0].overrides == [
        "classifier.class_weight=null",
        "classifier.ngram_range=[1, 3]",
        "classifier.sublinear_tf=false",
    ]
    assert found.cells[1].overrides[0] == 'classifier.class_weight="balanced"'
    for override in found.cells[1].overrides:
        key, value = override.split("=", 1)
        assert yaml.safe_load(value) == found.cells[1].params[key]


@pytest.mark.parametrize(
    "text, message",
    [
        ("metric: m\ndirection: up\ngrid: {classifier.C: [1]}\n", "direction must be one of 'higher', 'lower'"),
        ("metric: classification.macro_f1\ngrid: {}\n", "grid: names no parameter"),
        ("metric: classification.macro_f1\ngrid: {classifier.C: 1.0}\n", "classifier.C must be a list of at least one"),
        ("metric: classification.macro_f1\ngrid: {classifier.C: []}\n", "classifier.C must be a list of at least one"),
        ("metric: classification.macro_f1\ngrid: {classifier.C: [1, 2, 1]}\n", "classifier.C lists 1 more than once"),
        (
            "metric: classification.macro_f1\ngrids: {classifier.C: [1]}\n",
            "grid is missing: it must be a mapping of names to a list",
        ),
        ("grid: {classifier.C: [1]}\n", "metric is missing"),
        ("metric: classification.macro_f1\ngrid: {classifier.c: [1]}\n", "grid.classifier.c is not a parameter"),
        ("metric: classification.macro_f1\ngrid: {classifier: [1]}\n", "grid.classifier is not a parameter"),
        (
            "metric: classification.macro_f1\nset: {classifier.Cx: 1}\ngrid: {index.k: [1]}\n",
            "set.classifier.Cx is not",
        ),
        (
            "metric: classification.macro_f1\ngrid: {gate.thresholds.classification.accuracy: [0]}\n",
            "cannot change gate",
        ),
        ("metric: classification.macro_f1\ngrid: {data.n_tickets: [10]}\n", "cannot change data"),
        ("metric: classification.macro_f1\nset: {index.k: 5}\ngrid: {index.k: [1]}\n", "index.k is both in set and"),
        ("metric: classification.macro_f1\ngrid: {classifier.C: [1, -1]}\n", "cell try-2: classifier.C must be"),
        ("metric: classification.macro_f1\ngrid: {classifier.C: ['1']}\n", "cell try-1: classifier.C must be"),
        ("metric: made.up\ngrid: {classifier.C: [1]}\n", "no rule for made.up: add `direction: higher`"),
        ("metric: [unclosed\n", "is not valid YAML at line"),
    ],
)
def test_a_bad_sweep_file_is_refused_in_one_line(tmp_path, text, message):
    with pytest.raises(SweepError) as refused:
        loaded(tmp_path, text)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(str(tmp_path / "try.yaml"))


def test_a_misspelt_key_gets_a_suggestion(tmp_path):
    with pytest.raises(SweepError, match=r"did you mean classifier\.C\?"):
        loaded(tmp_path, "metric: classification.macro_f1\ngrid: {classifier.c: [1]}\n")


@pytest.mark.parametrize("name", ["Upper", "with space", "-dash-first", "x" * 41, "dots.in.name"])
def test_the_file_name_must_make_a_valid_experiment_name(tmp_path, name):
    with pytest.raises(SweepError, match="lowercase letters, digits"):
        loaded(tmp_path, "metric: classification.macro_f1\ngrid: {classifier.C: [1]}\n", name=name)


def test_names_at_the_length_limit_and_with_digits_and_underscores_are_fine(tmp_path):
    assert loaded(tmp_path, "metric: retrieval.mrr\ngrid: {classifier.C: [1]}\n", name="x" * 40).name == "x" * 40
    assert loaded(tmp_path, "metric: retrieval.mrr\ngrid: {classifier.C: [1]}\n", name="0_a-b").names() == ["0_a-b-1"]


def test_a_missing_file_or_another_extension_is_refused(tmp_path):
    with pytest.raises(SweepError, match="not found"):
        load_sweep(tmp_path / "nothing.yaml", PARAMS)
    other = tmp_path / "try.yml"
    other.write_text("metric: retrieval.mrr\ngrid: {classifier.C: [1]}\n")
    with pytest.raises(SweepError, match="sweeps/<name>.yaml"):
        load_sweep(other, PARAMS)


def test_a_grid_may_have_as_many_cells_as_a_ci_matrix_and_no_more(tmp_path):
    values = list(range(1, sweep.MAX_CELLS + 1))
    text = "metric: retrieval.mrr\ngrid:\n  index.k: "
    assert len(loaded(tmp_path, text + json.dumps(values)).cells) == 256
    with pytest.raises(SweepError, match="257 combinations; a CI matrix runs at most 256"):
        loaded(tmp_path, text + json.dumps([*values, 257]))


def test_direction_comes_from_the_file_else_from_the_gate_rule_of_the_metric(tmp_path):
    assert loaded(tmp_path, "metric: must_pass.failed\ngrid: {classifier.C: [1]}\n").direction == "lower"
    explicit = "metric: classification.macro_f1\ndirection: lower\ngrid: {classifier.C: [1]}\n"
    assert loaded(tmp_path, explicit).direction == "lower"
    # a glob rule of gate.regression covers the metrics it matches
    assert (
        loaded(tmp_path, "metric: slices.tickets.channel.chat.accuracy\ngrid: {index.k: [1]}\n").direction == "higher"
    )


def test_a_cell_runs_as_one_argument_list_never_shell_text(tmp_path):
    found = loaded(tmp_path, "metric: retrieval.mrr\ngrid: {embed.cache_dir: ['x; rm -rf /']}\n")
    cell = found.cells[0]
    assert sweep.dvc_exp_run(cell) == ["dvc", "exp", "run", "-n", "try-1", "-S", 'embed.cache_dir="x; rm -rf /"']
    assert sweep.dvc_exp_run(cell, queue=True, pull=True)[5:7] == ["--queue", "--pull"]
    assert "--pull" not in sweep.dvc_exp_run(cell, queue=True)


def test_an_unknown_cell_names_the_cells_there_are(tmp_path):
    found = loaded(tmp_path, "metric: retrieval.mrr\ngrid: {classifier.C: [1, 2]}\n")
    assert found.cell("try-2").params == {"classifier.C": 2}
    with pytest.raises(SweepError, match=r"'try-3' is not a cell of .*try.yaml \(its cells: try-1, try-2\)"):
        found.cell("try-3")


def decision(promoted=True, must_pass_failed=0):
    rows = [("classification.macro_f1", 0.9 if promoted else 0.4, 0.85, promoted)]
    failed = [{"text": "t", "expected": "a", "predicted": "b", "passed": False}] * must_pass_failed
    return Decision(rows, failed, 10)


def result(name, value, promoted=True, **extra):
    return Result(name, "c" * 40, {"classifier.C": 1.0}, {"m": value}, decision(promoted), **extra)


def test_the_best_is_the_highest_or_lowest_value_among_promoted_experiments():
    rows = [result("a", 0.7), result("b", 0.9), result("c", 0.95, promoted=False), result("d", 0.8)]
    assert best_of(rows, "m", "higher") == ["b"]  # c is better but was refused
    assert best_of(rows, "m", "lower") == ["a"]


def test_a_tie_names_every_tied_experiment_in_sweep_order():
    rows = [result("a", 0.9), result("b", 0.8), result("c", 0.9)]
    assert best_of(rows, "m", "higher") == ["a", "c"]


def test_no_best_without_a_promoted_experiment_with_a_number():
    assert best_of([result("a", 0.9, promoted=False)], "m", "higher") == []
    assert best_of([result("a", float("nan")), result("b", None), result("c", True)], "m", "higher") == []
    assert best_of([Result("a", None)], "m", "higher") == []


def test_a_must_pass_failure_refuses_even_when_every_floor_is_met():
    row = result("a", 0.99)
    row.decision = decision(promoted=True, must_pass_failed=1)
    assert best_of([row], "m", "higher") == []
    assert sweep.decision_text(row.decision) == "refused: 1 must-pass failed"


def table_of(rows, fixed=None, metric="m"):
    found = sweep.Sweep("s", "sweeps/s.yaml", metric, "higher", ["classifier.C"], fixed or {}, [])
    head = Result("HEAD", "abcdef0123", {"classifier.C": 4.0}, {"m": 0.5}, decision())
    return markdown(found, head, rows, [metric])


def test_the_table_has_a_row_per_cell_the_decision_the_cases_and_the_best():
    tickets = CaseDiff("test tickets", degraded=[CaseChange("T1", "", "a", "a", "b")] * 2, improved=[])
    rows = [
        result("s-1", 0.7, cases=[tickets]),
        result("s-2", 0.9),
        result("s-3", 0.3, promoted=False),
        Result("s-4", None),
    ]
    text = table_of(rows, fixed={"encoder.hybrid.dense_weight": 0.5})
    lines = text.splitlines()
    assert lines[0] == "## Sweep `s`: 3 of 4 experiments of HEAD (abcdef0)"
    assert "Best by `m` (higher is better): **`s-2`** (0.9000; HEAD 0.5000)." in lines
    assert "Every experiment also sets `encoder.hybrid.dense_weight=0.5`." in lines
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 1 + 4  # header, alignment, HEAD, the cells
    assert table[2] == "| HEAD | 4.0 | 0.5000 | promoted | – | – | – |"
    assert table[3] == "| `s-1` | 1.0 | 0.7000 | promoted | 2 / 0 | – | – |"
    assert table[4] == "| `s-2` ★ | 1.0 | 0.9000 | promoted | – | – | – |"
    assert table[5] == "| `s-3` | 1.0 | 0.3000 | refused: `classification.macro_f1` 0.4000 < 0.8500 | – | – | – |"
    assert table[6] == "| `s-4` | – | – | no experiment: the cell failed or was not pushed | – | – | – |"
    assert all(line.count(" | ") == table[0].count(" | ") for line in table if line != table[1])


def test_ties_and_no_best_are_said_in_words():
    assert "**`s-1`** (0.9000, tied with `s-2`; HEAD 0.5000)" in table_of([result("s-1", 0.9), result("s-2", 0.9)])
    assert "No experiment was promoted with a value of `m`: none is named best." in table_of([Result("s-1", None)])


def test_text_from_params_cannot_break_out_of_its_table_cell():
    row = result("s-1", 0.9)
    row.params = {"classifier.C": "a | b <script>`x`</script>"}
    line = next(line for line in table_of([row]).splitlines() if line.startswith("| `s-1`"))
    assert line.count(" | ") == 6
    assert "a \\| b" in line and "``a \\| b <script>`x`</script>``" in line  # inside a code span, pipe escaped


def test_a_gitlab_child_pipeline_gets_the_cells_as_its_matrix(tmp_path):
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        "stages: [cells]\ncell:\n  stage: cells\n  parallel:\n    matrix:\n      - CELL: [x]\n  script: [echo]\n"
    )
    found = loaded(tmp_path, "metric: retrieval.mrr\ngrid: {classifier.C: [1, 2]}\n")
    child = yaml.safe_load(sweep.gitlab_child(found, jobs))
    assert child["cell"]["parallel"]["matrix"] == [{"CELL": ["try-1", "try-2"]}]
    assert child["stages"] == ["cells"]
    jobs.write_text("cell:\n  script: [echo]\n")
    with pytest.raises(SweepError, match="no job with `parallel: matrix` over CELL"):
        sweep.gitlab_child(found, jobs)


def test_experiments_are_found_by_name_under_their_baseline_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "base"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True)
    head = sweep.head_commit()
    subprocess.run(["git", "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/s-1", head], check=True)
    subprocess.run(["git", "update-ref", f"refs/exps/00/{'0' * 38}/s-2", head], check=True)
    assert sweep.experiment_commit(head, "s-1") == head
    assert sweep.experiment_commit(head, "s-2") is None  # an experiment of another commit
    assert sweep.experiment_commit(head, "s-3") is None


def test_plan_on_the_command_line_and_one_line_errors(tmp_path, capsys):
    assert sweep.main(["plan", str(write(tmp_path, EXAMPLE, name="classifier-c")), "--names"]) == 0
    assert json.loads(capsys.readouterr().out) == [f"classifier-c-{i}" for i in range(1, 5)]
    bad = write(tmp_path, "metric: classification.macro_f1\ngrid: {}\n")
    assert sweep.main(["run-cell", str(bad), "try-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sweep: ") and err.count("\n") == 1 and "names no parameter" in err


def test_the_metric_columns_are_the_sweep_metric_then_each_floor_named_exactly():
    assert sweep.gated_metrics("classification.macro_f1", PARAMS) == [
        "classification.macro_f1",
        "classification.accuracy",
        "retrieval.recall_at_5",
        "retrieval.mrr",
    ]
    params = {"gate": {"thresholds": {"classification": {"accuracy": 0.8}, "slices": {"a*": 0.5, "b?": 0.5}}}}
    assert sweep.gated_metrics("m", params) == ["m", "classification.accuracy"]


def test_the_queue_table_gives_each_named_experiment_its_state():
    shown = (
        "Task     Name      Created       Status\n"
        "1a2b3c4  s-1       03:15 PM      Success\n"
        "5d6e7f8  s-2       Dec 01, 2026  Failed\n"
        "9a8b7c6  s-3       03:16 PM      Running\n"
        "0f1e2d3  s-4       03:16 PM      Queued\n"
        "\nWorker status: 1 active, 0 idle\n"
    )
    assert sweep.parse_queue_status(shown) == {"s-1": "Success", "s-2": "Failed", "s-3": "Running", "s-4": "Queued"}
    assert sweep.parse_queue_status("No experiment tasks in the queue.\n\nWorker status: 0 active, 0 idle\n") == {}


def commit_all(message):
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message], check=True)
    return sweep.head_commit()


PASSED = {"text": "invoice twice", "expected": "billing", "predicted": "billing", "passed": True}


def write_run(c, metrics, must_pass=(PASSED,), floors=None):
    """What a pipeline run commits: params (with classifier.C = c), its metrics and must-pass cases."""
    params = sweep.with_overrides(PARAMS, {"classifier.C": c, **(floors or {})})
    Path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    Path("metrics/evaluate").mkdir(parents=True, exist_ok=True)
    Path("metrics/evaluate/metrics.json").write_text(json.dumps(metrics))
    Path("metrics/evaluate/must_pass.json").write_text(json.dumps(list(must_pass)))
    Path("metrics/promote.json").write_text(json.dumps({"promotion": {"promoted": 1}}))  # never read


def scores(accuracy, macro_f1):
    retrieval = {"recall_at_5": 0.8, "mrr": 0.6}
    return {"classification": {"accuracy": accuracy, "macro_f1": macro_f1}, "retrieval": retrieval}


@pytest.fixture
def swept(tmp_path, monkeypatch):
    """A git + DVC repository: HEAD, experiments s-1 and s-2 of HEAD, and none for cell s-3."""
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q", "-b", "main"], check=True)
    Path(".dvc").mkdir()  # what `dvc init` leaves that DVC's API needs
    Path(".dvc/config").write_text("")
    Path("dvc.yaml").write_text("metrics:\n- metrics/evaluate/metrics.json\n")
    Path("sweeps").mkdir()
    Path("sweeps/s.yaml").write_text("metric: classification.macro_f1\ngrid:\n  classifier.C: [0.5, 2.0, 8.0]\n")
    write_run(4.0, scores(0.90, 0.88))
    head = commit_all("run")
    write_run(0.5, scores(0.91, 0.90))
    experiments = {"s-1": commit_all("s-1")}
    # better by the sweep's metric, but under HEAD's accuracy floor even though its own params lower it
    failed = {**PASSED, "predicted": "bug", "passed": False}
    write_run(2.0, scores(0.80, 0.95), must_pass=[failed], floors={"gate.thresholds.classification.accuracy": 0.5})
    experiments["s-2"] = commit_all("s-2")
    for name, commit in experiments.items():
        subprocess.run(["git", "update-ref", sweep.experiment_ref(head, name), commit], check=True)
    subprocess.run(["git", "reset", "-q", "--hard", head], check=True)
    return head, experiments


def test_collect_reads_each_experiment_from_git_and_decides_under_heads_floors(swept, capsys):
    head, experiments = swept
    assert sweep.main(["collect", "sweeps/s.yaml"]) == 1  # s-3 has no experiment
    out, err = capsys.readouterr()
    assert err == "sweep: no experiment for s-3\n"
    report = Path("reports/sweeps/s.md").read_text()
    assert out == report + "\n"
    table = [line for line in report.splitlines() if line.startswith("|")]
    assert table[2:] == [
        "| HEAD | 4.0 | 0.8800 | 0.9000 | 0.8000 | 0.6000 | promoted | – | – | – |",
        "| `s-1` ★ | 0.5 | 0.9000 | 0.9100 | 0.8000 | 0.6000 | promoted | – | – | 0 / 0 |",
        "| `s-2` | 2.0 | 0.9500 | 0.8000 | 0.8000 | 0.6000 "
        "| refused: `classification.accuracy` 0.8000 < 0.8500, 1 must-pass failed | – | – | 1 / 0 |",
        "| `s-3` | – | – | – | – | – | no experiment: the cell failed or was not pushed | – | – | – |",
    ]
    assert report.splitlines()[0] == f"## Sweep `s`: 2 of 3 experiments of HEAD ({head[:7]})"
    assert "Best by `classification.macro_f1` (higher is better): **`s-1`** (0.9000; HEAD 0.8800)." in report

    found = sweep.read_result("s-2", experiments["s-2"], head, ["classifier.C"], PARAMS)
    assert (found.commit, found.params) == (experiments["s-2"], {"classifier.C": 2.0})
    assert found.metrics == {**sweep.flatten(scores(0.80, 0.95))}
    assert [row[3] for row in found.decision.rows] == [False, True, True, True]


def test_collect_writes_where_asked_and_needs_the_metric_somewhere(swept, capsys):
    Path("sweeps/s.yaml").write_text("metric: classification.macro_f1\ngrid:\n  classifier.C: [0.5, 2.0]\n")
    assert sweep.main(["collect", "sweeps/s.yaml", "--report", "out/table.md"]) == 0
    assert capsys.readouterr().err == ""
    assert Path("out/table.md").is_file() and not Path("reports").exists()
    Path("sweeps/s.yaml").write_text("metric: retrieval.recall_at_1\ngrid:\n  classifier.C: [0.5]\n")
    assert sweep.main(["collect", "sweeps/s.yaml"]) == 1
    assert capsys.readouterr().err == "sweep: sweeps/s.yaml: no experiment has the metric retrieval.recall_at_1\n"
    assert not Path("reports").exists()


def test_a_cell_is_pushed_only_once_it_has_run(swept, capsys):
    found = load_sweep("sweeps/s.yaml", PARAMS)
    with pytest.raises(SweepError, match=r"^no experiment s-3 of HEAD here: run the cell first \(make sweep-cell\)$"):
        sweep.push_cell(found, "s-3", "origin", outputs=False)


def test_experiments_need_a_commit_to_belong_to(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    with pytest.raises(SweepError, match=r"^no commit yet: experiments are kept against a commit"):
        sweep.head_commit()


HELP = {
    (): [
        "usage: python -m {{ cookiecutter.package_name }}.sweep [-h] {plan,run-cell,push,collect,queue} ...",
        "Experiment sweeps: one file in `sweeps/` fans out into DVC experiments, on CI runners or the local queue.",
        "plan print the cells as JSON",
        "run-cell run one cell: dvc exp run -n CELL -S ...",
        "push dvc exp push one cell, and check that the remote has it",
        "collect the comparison table of the cells' experiments of HEAD",
        "queue run the sweep through the local DVC queue, then collect",
    ],
    ("plan",): [
        "usage: python -m {{ cookiecutter.package_name }}.sweep plan [-h] [--names | --gitlab-child JOBS] sweep",
        "--names only the cells' names, one JSON line (a CI matrix)",
        "--gitlab-child JOBS JOBS (YAML) with the cells as its matrix",
    ],
    ("run-cell",): [
        "usage: python -m {{ cookiecutter.package_name }}.sweep run-cell [-h] [--pull] sweep cell",
        "--pull restore run-cached stages' outputs from the DVC remote",
    ],
    ("push",): [
        "usage: python -m {{ cookiecutter.package_name }}.sweep push [-h] [--remote REMOTE] [--run-cache] sweep cell",
        "--remote REMOTE the git remote (default: origin)",
        "--run-cache also push outputs and run-cache to the DVC remote",
    ],
    ("collect",): [
        "usage: python -m {{ cookiecutter.package_name }}.sweep collect [-h] [--pull REMOTE] [--report PATH] sweep",
        "--pull REMOTE dvc exp pull the cells from this git remote first",
        "--report PATH where to write it (default: reports/sweeps/<name>.md)",
    ],
    ("queue",): [
        "usage: python -m {{ cookiecutter.package_name }}.sweep queue [-h] [--jobs JOBS] [--timeout TIMEOUT] [--report PATH] sweep",
        "--jobs JOBS queue workers (default: 2)",
        "--timeout TIMEOUT seconds to wait for the queue (default: 3600)",
        "--report PATH where to write the table",
    ],
}


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: c[0] if c else "sweep")
def test_the_help_of_each_command_says_what_it_does(command, help_lines):
    shown = help_lines(sweep.parse_args, command)
    assert [line for line in HELP[command] if line not in shown] == []


def test_the_commands_defaults():
    plan = sweep.parse_args(["plan", "s.yaml"])
    assert (plan.command, plan.sweep, plan.names, plan.gitlab_child) == ("plan", "s.yaml", False, None)
    cell = sweep.parse_args(["run-cell", "s.yaml", "s-1"])
    assert (cell.command, cell.cell, cell.pull) == ("run-cell", "s-1", False)
    push = sweep.parse_args(["push", "s.yaml", "s-1"])
    assert (push.command, push.cell, push.remote, push.run_cache) == ("push", "s-1", "origin", False)
    collect = sweep.parse_args(["collect", "s.yaml"])
    assert (collect.command, collect.pull, collect.report) == ("collect", None, None)
    queue = sweep.parse_args(["queue", "s.yaml"])
    assert (queue.command, queue.jobs, queue.timeout, queue.report) == ("queue", 2, 3600.0, None)
    with pytest.raises(SystemExit) as done:
        sweep.parse_args([])  # a command is required
    assert done.value.code == 2
    with pytest.raises(SystemExit):
        sweep.parse_args(["plan", "s.yaml", "--names", "--gitlab-child", "jobs.yml"])  # one shape or the other
