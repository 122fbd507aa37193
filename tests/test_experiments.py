"""`dvc exp` on the default bake: one experiment in the workspace, a queued sweep, then compare, apply, branch.

Every test starts from a copy of the reproduced default project whose first run is
committed (dvc.lock and metrics/), the baseline that experiments are compared with.
The sweep runs once per module through the real task queue (`dvc queue start`),
with a bounded wait: queue hangs are reported upstream (treeverse/dvc#10398).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import RAN, base_env, commit, ran_stages, repro, run

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("experiments")]

CLASSIFIER_BRANCH = ["train_classifier", "evaluate", "promote"]  # then drift, when production changed
TRY_C = 1.0  # the default is 4.0; 1.0 classifies a few test tickets differently
SWEEP = [0.01, 1.0, 2.0]  # 0.01 is far too weak: promote refuses it, and the experiment still completes
WEAK_C = 0.01
QUEUE_TIMEOUT = 240  # seconds for the whole sweep; ~90 s on 2 idle cores
METRICS = "metrics/evaluate/metrics.json"
PLOTS = [
    "metrics/evaluate/plots/sklearn/confusion_matrix.json",
    "metrics/evaluate/plots/custom/per_class_f1.json",
    "metrics/evaluate/plots/custom/recall_at_k.json",
    "metrics/evaluate/plots/custom/slice_accuracy.json",
    "metrics/evaluate/plots/custom/abstention.json",
]
QUEUED = re.compile(r"Queued experiment '([^']+)' for future execution")


def copy_project(project: Path, parent: Path) -> Path:
    """A private copy of a project: workspace, git (with experiment refs) and DVC cache."""
    copy = parent / project.name
    shutil.copytree(project, copy, symlinks=True)
    return copy


def experiments(project: Path) -> dict[str, dict]:
    """`dvc exp show --json` by row name: the workspace, the baseline commit (its branch) and each experiment.

    DVC 3 prints a list: the workspace, then one entry per baseline commit whose
    `experiments` hold each experiment's `revs`; `data` has `params` and `metrics`
    keyed by file, each as {"data": ...}.
    """
    rows = {}
    for entry in json.loads(run(["dvc", "exp", "show", "--json"], project).stdout):
        for row in [entry] + [rev for exp in entry.get("experiments") or [] for rev in exp["revs"]]:
            data = row["data"]
            rows[row["name"] or row["rev"]] = {
                "rev": row["rev"],
                "params": data["params"]["params.yaml"]["data"],
                "metrics": {path: found.get("data") for path, found in data["metrics"].items()},
            }
    return rows


def classifier_c(project: Path, rev: str | None = None) -> float:
    text = run(["git", "show", f"{rev}:params.yaml"], project).stdout if rev else (project / "params.yaml").read_text()
    return yaml.safe_load(text)["classifier"]["C"]


def queue_states(project: Path) -> dict[str, str]:
    """Experiment name -> Queued / Running / Success / Failed, read from `dvc queue status`."""
    states = {}
    for line in run(["dvc", "queue", "status"], project, timeout=60).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] != "Task" and parts[-1] in ("Queued", "Running", "Success", "Failed"):
            states[parts[1]] = parts[-1]
    return states


def start_queue(project: Path, jobs: int) -> None:
    """`dvc queue start`, its output in a file: the workers it forks keep inherited pipes open, so capturing hangs."""
    log = project / ".dvc/tmp/queue-start.log"
    with log.open("w") as out:
        result = subprocess.run(
            ["dvc", "queue", "start", "-j", str(jobs)],
            cwd=project,
            env={**base_env(), "PYTHONPATH": str(project / "src")},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
    assert result.returncode == 0, log.read_text()


def flat(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Nested metrics as {"a.b.c": value}, the way `dvc exp diff` names them."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.fixture(scope="module")
def committed(reproduced, tmp_path_factory) -> Path:
    """The reproduced default project with its first run committed: every experiment's baseline. Read only."""
    project = copy_project(reproduced[0], tmp_path_factory.mktemp("exp-baseline"))
    commit(project, "Run the pipeline")
    return project


@pytest.fixture(scope="module")
def single_experiment(committed, tmp_path_factory):
    """`dvc exp run -S classifier.C=1.0` in the workspace of a copy; the project and that command's output."""
    project = copy_project(committed, tmp_path_factory.mktemp("exp-run"))
    assert classifier_c(project) != TRY_C
    result = run(["dvc", "exp", "run", "-n", "try-c", "-S", f"classifier.C={TRY_C}"], project)
    return project, result


@pytest.fixture(scope="module")
def swept(committed, tmp_path_factory, request):
    """A copy with a queued sweep over classifier.C, run by two queue workers: project, {name: C}, {name: log}."""
    project = copy_project(committed, tmp_path_factory.mktemp("exp-sweep"))
    values = ",".join(str(c) for c in SWEEP)
    queued = run(["dvc", "exp", "run", "--queue", "-S", f"classifier.C={values}"], project)
    names = QUEUED.findall(queued.stdout + queued.stderr)
    assert len(names) == len(SWEEP), queued.stdout
    # Whatever happens below, no worker or stage process outlives the module.
    request.addfinalizer(lambda: run(["dvc", "queue", "stop", "--kill"], project, check=False, timeout=60))
    start_queue(project, jobs=2)

    deadline = time.monotonic() + QUEUE_TIMEOUT
    while (states := queue_states(project)) and not all(states.get(n) in ("Success", "Failed") for n in names):
        if time.monotonic() > deadline:
            run(["dvc", "queue", "stop", "--kill"], project, check=False, timeout=60)
            pytest.fail(f"the queued sweep did not finish within {QUEUE_TIMEOUT} s (killed): {states}")
        time.sleep(3)
    failed = [n for n in names if states.get(n) != "Success"]
    logs = {n: run(["dvc", "queue", "logs", n], project, check=False, timeout=60).stdout for n in names}
    assert not failed, "\n\n".join(f"{n}: {states.get(n)}\n{logs[n]}" for n in failed)
    rows = experiments(project)
    experiment_c = {name: rows[name]["params"]["classifier"]["C"] for name in names}
    return project, experiment_c, logs


def test_exp_run_reruns_only_the_classifier_branch(single_experiment):
    project, result = single_experiment
    assert ran_stages(result) == [*CLASSIFIER_BRANCH, "drift"]
    assert "Ran experiment(s): try-c" in result.stdout


def test_exp_show_lists_the_experiment_with_its_params_and_metrics(single_experiment):
    project, _ = single_experiment
    rows = experiments(project)
    baseline, experiment = rows["main"], rows["try-c"]
    assert experiment["params"]["classifier"]["C"] == TRY_C
    assert baseline["params"]["classifier"]["C"] == classifier_c(project, "HEAD")
    # a different classifier, the same encoder and index
    assert experiment["metrics"][METRICS]["classification"] != baseline["metrics"][METRICS]["classification"]
    assert 0.75 <= experiment["metrics"][METRICS]["classification"]["accuracy"] < 1.0
    assert experiment["metrics"][METRICS]["retrieval"] == baseline["metrics"][METRICS]["retrieval"]
    assert experiment["metrics"]["metrics/index.json"] == baseline["metrics"]["metrics/index.json"]
    # `dvc exp run` without --queue leaves its results in the workspace
    assert json.loads((project / METRICS).read_text()) == experiment["metrics"][METRICS]
    assert rows["workspace"]["metrics"][METRICS] == experiment["metrics"][METRICS]


def test_set_param_changes_only_that_line_of_params_yaml(single_experiment):
    """DVC re-dumps params.yaml with ruamel.yaml; the template's file is in that style, so one value is one line."""
    project, _ = single_experiment
    diff = run(["git", "diff", "-U0", "--", "params.yaml"], project).stdout
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [f"-  C: {classifier_c(project, 'HEAD')}", f"+  C: {TRY_C}"]


def production_hash(project: Path, rev: str) -> str:
    lock = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], project).stdout)
    return next(out["md5"] for out in lock["stages"]["promote"]["outs"] if out["path"] == "models/production")


def test_queued_sweep_records_every_value_with_its_metrics(swept):
    """A weak value among good ones: every experiment completes with its own metrics and its promotion decision."""
    project, experiment_c, logs = swept
    rows = experiments(project)
    baseline = rows["main"]
    assert sorted(experiment_c.values()) == SWEEP
    for name, c in experiment_c.items():
        metrics = rows[name]["metrics"][METRICS]
        decision = rows[name]["metrics"]["metrics/promote.json"]["promotion"]
        assert set(metrics) >= {"classification", "retrieval", "must_pass"}
        assert metrics["retrieval"] == baseline["metrics"][METRICS]["retrieval"]
        assert metrics["classification"] != baseline["metrics"][METRICS]["classification"]  # its own numbers
        # each queued run starts from the committed outputs: only the classifier branch runs, and the
        # drift check when production changed
        drift = [] if "promote: REFUSED" in logs[name] else ["drift"]
        assert RAN.findall(logs[name]) == CLASSIFIER_BRANCH + drift, logs[name]
        if c == WEAK_C:
            assert metrics["classification"]["accuracy"] < 0.85 and decision["promoted"] == 0, rows[name]["metrics"]
            assert "promote: REFUSED" in logs[name]
            # the refused candidate left production as the baseline had it
            assert production_hash(project, rows[name]["rev"]) == production_hash(project, "main")
        else:
            assert 0.85 <= metrics["classification"]["accuracy"] < 1.0 and decision["promoted"] == 1
            assert production_hash(project, rows[name]["rev"]) != production_hash(project, "main")
    classifications = {json.dumps(rows[name]["metrics"][METRICS]["classification"]) for name in experiment_c}
    assert len(classifications) > 1, "every value of classifier.C gave the same classification metrics"


def two_different(project: Path, experiment_c: dict[str, float]) -> tuple[str, str, dict, dict]:
    """The sweep's lowest accuracy and the best one whose classification metrics differ from it."""
    rows = experiments(project)

    def classification(name: str) -> dict:
        return rows[name]["metrics"][METRICS]["classification"]

    ranked = sorted(
        (n for n in experiment_c if experiment_c[n] != WEAK_C), key=lambda n: (classification(n)["accuracy"], n)
    )
    old = ranked[0]
    new = next((n for n in reversed(ranked) if classification(n) != classification(old)), ranked[-1])
    return old, new, rows[old], rows[new]


def test_exp_diff_and_plots_diff_compare_two_experiments(swept, tmp_path):
    project, experiment_c, _ = swept
    old, new, old_row, new_row = two_different(project, experiment_c)
    old_flat = flat(old_row["metrics"][METRICS])
    new_flat = flat(new_row["metrics"][METRICS])
    changed = {key for key in old_flat if old_flat[key] != new_flat[key]}
    assert changed, f"{old} and {new} have the same metrics"

    diff = json.loads(run(["dvc", "exp", "diff", old, new, "--json"], project).stdout)
    assert set(diff["metrics"][METRICS]) == changed
    for key in changed:
        assert diff["metrics"][METRICS][key]["old"] == old_flat[key]
        assert diff["metrics"][METRICS][key]["new"] == new_flat[key]
    assert diff["params"]["params.yaml"]["classifier.C"] == {
        "old": experiment_c[old],
        "new": experiment_c[new],
        "diff": pytest.approx(experiment_c[new] - experiment_c[old]),
    }
    table = run(["dvc", "exp", "diff", old, new], project).stdout
    assert old in table and new in table and "classifier.C" in table
    assert any(key in table for key in changed)

    plots = json.loads(run(["dvc", "plots", "diff", old, new, "--json"], project).stdout)
    assert sorted(plots["data"]) == sorted(PLOTS)
    for path in PLOTS:
        assert plots["data"][path][0]["revisions"] == [old, new]
    run(["dvc", "plots", "diff", old, new, "--out", tmp_path / "plots"], project)
    page = (tmp_path / "plots/index.html").read_text()
    assert old in page and new in page


def test_exp_apply_then_commit_or_exp_branch(swept, tmp_path):
    project, experiment_c, _ = swept
    project = copy_project(project, tmp_path)
    other, best, other_row, best_row = two_different(project, experiment_c)

    run(["dvc", "exp", "apply", best], project)
    assert classifier_c(project) == experiment_c[best]
    assert json.loads((project / METRICS).read_text()) == best_row["metrics"][METRICS]
    # apply restores the experiment's outputs too: nothing is out of date
    result = repro(project)
    assert ran_stages(result) == [] and "Data and pipelines are up to date." in result.stdout
    commit(project, f"Use classifier.C={experiment_c[best]}")
    assert classifier_c(project, "HEAD") == experiment_c[best]
    assert run(["git", "status", "--porcelain"], project).stdout == ""

    # the alternative: keep an experiment as a branch without touching the workspace
    run(["dvc", "exp", "branch", other, "try-other-c"], project)
    assert classifier_c(project, "try-other-c") == experiment_c[other]
    shown = run(["git", "show", f"try-other-c:{METRICS}"], project).stdout
    assert json.loads(shown) == other_row["metrics"][METRICS]
    assert classifier_c(project) == experiment_c[best]
