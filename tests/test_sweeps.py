"""Experiment sweeps on CI runners, played through here as the generated workflow runs them.

A team's two remotes are local: a bare git repository (`origin`) and a DVC remote
folder. The reproduced default project is committed and pushed to both, with its
run-cache. Each cell of a two-cell sweep then runs in a fresh clone of its own, one
after another, with the workflow's own commands (`make sweep-cell sweep-push`:
`dvc pull --run-cache`, `dvc exp run --pull -n <cell> -S ...`, `dvc exp push origin
<cell> --run-cache`), and a collector in yet another clone pulls the experiments and
writes the comparison table. The first cell through DVC's local queue
(`make sweep`) must measure exactly what the CI cell measured.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DEFAULT_PACKAGE, NO_NETWORK, base_env, commit, ran_stages, run
from git_http import git_http_server

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("sweeps")]

SWEEP = "sweeps/ci.yaml"
# Two cells that share a changed upstream stage: train_encoder runs (with the new weight) in the first
# cell only; the second restores it from the run-cache the first pushed. classifier.C keeps each cell cheap.
SWEEP_FILE = """\
metric: classification.macro_f1
set:
  encoder.hybrid.dense_weight: 0.5
grid:
  classifier.C: [1.0, 8.0]
"""
CELLS = ["ci-1", "ci-2"]
# The first cell again, as a sweep of its own for the local queue (one cell keeps the queue test short).
LOCAL_SWEEP = "sweeps/local.yaml"
LOCAL_FILE = SWEEP_FILE.replace("[1.0, 8.0]", "[1.0]")
METRICS = "metrics/evaluate/metrics.json"
QUEUE_TIMEOUT = 300  # seconds for the queued cell


@dataclass(frozen=True)
class Team:
    root: Path
    project: Path  # the developer's clone, which pushed the baseline
    origin: Path  # the bare git repository
    storage: Path  # the DVC remote folder


@dataclass(frozen=True)
class Cell:
    clone: Path
    result: subprocess.CompletedProcess  # of `make sweep-cell`
    seconds: float

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


def make(clone: Path, *targets: str, **env: str) -> subprocess.CompletedProcess:
    """Makefile targets as a CI job runs them, offline (the remotes are local paths)."""
    return run([*NO_NETWORK, "make", *targets], clone, SWEEP=SWEEP, **env)


@pytest.fixture(scope="module")
def team(reproduced, tmp_path_factory) -> Team:
    """The reproduced default project with a sweep file, committed and pushed to both remotes (run-cache too)."""
    root = tmp_path_factory.mktemp("sweeps")
    project = root / "developer"
    shutil.copytree(reproduced[0], project, symlinks=True)
    origin, storage = root / "origin.git", root / "dvc-storage"
    run(["git", "init", "-q", "--bare", "-b", "main", origin], root)
    (project / SWEEP).write_text(SWEEP_FILE)
    (project / LOCAL_SWEEP).write_text(LOCAL_FILE)
    run(["dvc", "remote", "modify", "local", "url", storage], project)  # the team's remote, in .dvc/config
    commit(project, "Run the pipeline; a sweep of classifier.C")
    run(["git", "remote", "add", "origin", origin], project)
    run(["git", "push", "-q", "origin", "main"], project)
    run([*NO_NETWORK, "dvc", "push", "--run-cache"], project)
    return Team(root, project, origin, storage)


@pytest.fixture(scope="module")
def cells(team) -> dict[str, Cell]:
    """Each cell in its own fresh clone, one after another, exactly as the workflow's `cells` job runs it."""
    done = {}
    for name in CELLS:
        clone = team.root / name
        run(["git", "clone", "-q", team.origin, clone], team.root)  # the whole history (fetch-depth: 0)
        started = time.monotonic()
        output = make(clone, "sweep-cell", CELL=name, DVC_REMOTE_READY="true")
        seconds = time.monotonic() - started
        make(clone, "sweep-push", CELL=name, DVC_REMOTE_READY="true")
        done[name] = Cell(clone, output, seconds)
    return done


@pytest.fixture(scope="module")
def collected(team, cells) -> tuple[Path, subprocess.CompletedProcess]:
    """The `collect` job: a fresh clone pulls the experiments and writes the table."""
    clone = team.root / "collector"
    run(["git", "clone", "-q", team.origin, clone], team.root)
    return clone, make(clone, "sweep-collect")


def experiment_ref(repo: Path, name: str) -> str:
    """The commit of experiment `name` in `repo` (DVC keeps it as refs/exps/<baseline>/<name>)."""
    refs = run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], repo).stdout.split("\n")
    (commit_id,) = [line.split()[1] for line in refs if line and line.split()[0].endswith(f"/{name}")]
    return commit_id


def macro_f1(repo: Path, rev: str) -> float:
    return json.loads(run(["git", "show", f"{rev}:{METRICS}"], repo).stdout)["classification"]["macro_f1"]


def test_each_cell_restores_what_it_shares_and_pushes_its_experiment(team, cells):
    first, second = (cells[name] for name in CELLS)
    for cell in (first, second):
        # upstream of the swept params: restored by `dvc pull --run-cache`, never run
        assert "Stage 'validate' didn't change, skipping" in cell.output
        assert "Stage 'split' didn't change, skipping" in cell.output
        assert {"train_classifier", "evaluate", "promote"} <= set(ran_stages(cell.result))
    # the shared new encoder weight: trained by the first cell, restored from its pushed run-cache by the second
    assert "train_encoder" in ran_stages(first.result)
    assert "train_encoder" not in ran_stages(second.result)
    assert "Stage 'train_encoder' is cached - skipping run, checking out outputs" in second.output
    # both experiments are refs on origin, against the pushed commit
    baseline = run(["git", "rev-parse", "HEAD"], team.project).stdout.strip()
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], team.origin).stdout.split()
    assert refs == [f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}" for name in CELLS]
    trained = json.loads((first.clone / "reports/timings/train_encoder.json").read_text())["wall_s"]
    print(
        f"\nsweep cells: {', '.join(f'{name} {cell.seconds:.1f} s' for name, cell in cells.items())}; "
        f"train_encoder {trained:.1f} s in {CELLS[0]}, restored from the run-cache in {CELLS[1]}"
    )


def test_a_second_run_of_a_cell_cannot_silently_keep_the_first_runs_experiment(team, cells):
    """`dvc exp push` exits 0 and pushes nothing when origin has another experiment of that name: make fails."""
    clone = cells[CELLS[1]].clone
    baseline = run(["git", "rev-parse", "HEAD"], clone).stdout.strip()
    on_origin = experiment_ref(team.origin, CELLS[0])
    # a different experiment called like the first cell, as a rerun of the sweep at this commit makes
    run(
        ["git", "update-ref", f"refs/exps/{baseline[:2]}/{baseline[2:]}/{CELLS[0]}", experiment_ref(clone, CELLS[1])],
        clone,
    )
    result = run([*NO_NETWORK, "make", "sweep-push", f"CELL={CELLS[0]}"], clone, check=False, SWEEP=SWEEP)
    assert result.returncode != 0
    assert (
        f"sweep: origin has another experiment {CELLS[0]} of this commit after the push (an earlier run of the "
        f"sweep): remove it with `dvc exp remove -g origin {CELLS[0]}`"
    ) in result.stderr
    assert experiment_ref(team.origin, CELLS[0]) == on_origin


def test_the_push_gets_its_token_from_the_environment_through_git_askpass(team, cells, tmp_path):
    """The workflow's push step against a git server that wants a token, as GitHub's and GitLab's do.

    `dvc exp push` (dulwich) and the check after it (git) both ask scripts/git-askpass.sh,
    which answers from GIT_TOKEN: a wrong token is refused, the right one pushes, and
    the token is written nowhere in the clone.
    """
    clone = cells[CELLS[0]].clone
    served = tmp_path / "served"
    run(["git", "clone", "-q", "--bare", team.origin, served / "team.git"], tmp_path)
    run(["git", "config", "http.receivepack", "true"], served / "team.git")
    token = "ghs_not-a-real-token-0123456789"
    with git_http_server(served, "x-access-token", token) as server:
        url = f"{server.url}/team.git"
        push = [sys.executable, "-m", f"{DEFAULT_PACKAGE}.sweep", "push", SWEEP, CELLS[0], "--remote", url]
        askpass = {"GIT_ASKPASS": str(clone / "scripts/git-askpass.sh"), "GIT_TERMINAL_PROMPT": "0"}
        refused = run(push, clone, check=False, **askpass, GIT_TOKEN="wrong")
        assert refused.returncode != 0 and "Authentication failed" in refused.stderr
        pushed = run(push, clone, **askpass, GIT_TOKEN=token)
        assert f"Pushed experiment {CELLS[0]}" in pushed.stdout + pushed.stderr
    assert experiment_ref(served / "team.git", CELLS[0]) == experiment_ref(clone, CELLS[0])
    assert True in server.authorized  # the server was asked with the token, after refusing without it
    assert not any(token in path.read_text(errors="replace") for path in (clone / ".git").glob("config*"))


def test_the_collector_tables_every_cell_with_its_decision_and_names_the_best(team, cells, collected):
    clone, result = collected
    report = (clone / "reports/sweeps/ci.md").read_text()
    assert report in result.stdout  # also printed, for the job log
    lines = report.splitlines()
    head = run(["git", "rev-parse", "--short=7", "HEAD"], clone).stdout.strip()
    assert lines[0] == f"## Sweep `ci`: 2 of 2 experiments of HEAD ({head})"
    assert "Every experiment also sets `encoder.hybrid.dense_weight=0.5`." in lines
    header = next(line for line in lines if line.startswith("| experiment |"))
    assert "| `classifier.C` | `classification.macro_f1` |" in header and "promotion (HEAD's floors)" in header
    rows = {line.split(" | ")[0].strip("| ★`"): line for line in lines if line.startswith(("| HEAD", "| `ci-"))}
    assert list(rows) == ["HEAD", *CELLS]
    scores = {name: macro_f1(clone, experiment_ref(clone, name)) for name in CELLS}
    for name, c_value in zip(CELLS, ("1.0", "8.0"), strict=True):
        cells_of_row = rows[name].split(" | ")
        assert cells_of_row[1] == c_value and cells_of_row[2] == f"{scores[name]:.4f}"
        assert "| promoted |" in rows[name]  # promote's floors of HEAD, applied in this run
        assert re.search(r"\| \d+ / \d+ \| \d+ / \d+ \| \d+ / \d+ \|$", rows[name])  # cases against HEAD
    best = max(CELLS, key=lambda name: (scores[name], -CELLS.index(name)))
    assert f"Best by `classification.macro_f1` (higher is better): **`{best}`**" in report
    assert "★" in rows[best] and "★" not in "".join(rows[name] for name in CELLS if name != best)


def test_the_local_queue_measures_what_the_ci_cell_measured(team, cells, tmp_path):
    """`make sweep` (DVC's queue) in the developer's clone: the first cell again, the same metrics as on CI."""
    project = tmp_path / "developer"
    shutil.copytree(team.project, project, symlinks=True)
    started = time.monotonic()
    log = project / ".dvc/tmp/sweep.log"
    try:
        # queue workers keep inherited pipes open: their output goes to a file, not a pipe
        with log.open("w") as out:
            queued = subprocess.run(
                [*NO_NETWORK, "make", "sweep", f"SWEEP={LOCAL_SWEEP}", "JOBS=1"],
                cwd=project,
                env=run_env(project),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=QUEUE_TIMEOUT,
            )
    finally:
        subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=project, env=run_env(project), capture_output=True)
    assert queued.returncode == 0, log.read_text()
    seconds = time.monotonic() - started
    report = (project / "reports/sweeps/local.md").read_text()
    assert "**`local-1`**" in report and "| `local-1` ★ | 1.0 |" in report
    # byte for byte: every metric the queue measured (its encoder trained here) is what the CI cell measured
    first = cells[CELLS[0]].clone
    local = run(["git", "show", f"{experiment_ref(project, 'local-1')}:{METRICS}"], project).stdout
    assert local == run(["git", "show", f"{experiment_ref(first, CELLS[0])}:{METRICS}"], first).stdout
    print(f"\none cell through the local queue: {seconds:.1f} s")


def run_env(project: Path) -> dict[str, str]:
    return {**base_env(), "PYTHONPATH": str(project / "src")}
