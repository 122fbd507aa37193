"""The DVC remote options end to end: push, a fresh clone, pull, and how failures look.

`dvc_remote=s3` runs against SeaweedFS (a real S3 server, data on disk) and, for
the failure paths, moto's server with IAM enforced; `dvc_remote=local` needs no
server. Commands that talk to a remote go through `dvc()` below, not conftest's
`repro()`: `repro()` cuts the network with `unshare --net`, and a server on
127.0.0.1 of this namespace is unreachable from there. Steps that need no remote
still use `repro()`, which proves they run offline.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import s3_servers
import yaml
from conftest import NO_NETWORK, STAGES, bake, base_env, commit, ran_stages, repro, run, set_param, tree_digest
from s3_servers import HOST, REGION, S3Server, s3_env, stop, without_aws_leaks

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("remote")]

# The servers' fixtures, made visible to pytest in this module.
seaweed = s3_servers.seaweed
moto_iam = s3_servers.moto_iam

BUCKET = "dvc-tests"
SLUG = "s3-roundtrip"
REMOTE_TIMEOUT = 90  # seconds: any remote command still running then is killed and fails the test
FAIL_FAST = 45  # seconds: a refused key, a stopped server or a missing bucket must be reported within this
OUTPUTS = ("data", "models", "metrics")
SCRATCH = (".git/", ".dvc/cache/", ".dvc/tmp/")
# Stages DVC never saves to the run-cache: `evaluate` and `drift` declare `cache: false` outputs
# that are neither metrics nor plots, `promote` has `persist: true` outputs.
NOT_RUN_CACHED = {"evaluate", "promote", "drift"}


def remote_command(project: Path, cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `cmd` with `env` and none of the caller's own AWS variables; fail the test past REMOTE_TIMEOUT."""
    return subprocess.run(
        cmd,
        cwd=project,
        env={**without_aws_leaks(base_env()), "PYTHONPATH": str(project / "src"), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=REMOTE_TIMEOUT,
        check=False,
    )


def dvc(project: Path, *args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = remote_command(project, ["dvc", *args], env)
    if check and result.returncode != 0:
        pytest.fail(f"dvc {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def make(project: Path, target: str, env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess:
    """A target of the generated Makefile, as CI runs it."""
    result = remote_command(project, ["make", target], env)
    assert result.returncode == code, f"make {target}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def timed(call, *args, **kwargs):
    """(what `call` returns, its wall time in seconds)."""
    start = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - start


def fresh_clone(project: Path, where: Path) -> Path:
    """`git clone` of the project: dvc.lock, metrics and config, but no DVC cache and no data."""
    run(["git", "clone", "-q", project, where], project.parent)
    assert not (where / ".dvc/cache").exists()
    return where


def outputs(project: Path) -> dict[str, dict[str, str]]:
    """SHA-256 of every file under data/, models/ and metrics/."""
    return {folder: tree_digest(project / folder) for folder in OUTPUTS}


def workspace(project: Path) -> dict[str, str]:
    """SHA-256 of every file but git's and DVC's internals: what a failed command must leave alone."""
    return {path: digest for path, digest in tree_digest(project).items() if not path.startswith(SCRATCH)}


# The demo data, which git tracks: a fresh clone has it before any `dvc pull`.
GIT_DATA = ["incoming/tickets.csv", "raw/kb.csv", "raw/queries.csv", "raw/tickets.csv"]


def data_files(project: Path) -> list[str]:
    """Files under data/ and models/ other than the .gitignore files DVC commits and the demo data git tracks."""
    return [
        path
        for folder in ("data", "models")
        for path in tree_digest(project / folder)
        if "gitignore" not in path and not (folder == "data" and path in GIT_DATA)
    ]


def run_cached_stages(project: Path) -> set[str]:
    """Names of the stages that have an entry in the project's local run-cache."""
    entries = [p for p in (project / ".dvc/cache/runs").rglob("*") if p.is_file()]
    return {yaml.safe_load(entry.read_text())["cmd"].rsplit(".", 1)[-1] for entry in entries}


@dataclass(frozen=True)
class Pushed:
    """A reproduced, committed and pushed project, and the environment that reaches its remote."""

    project: Path
    env: dict[str, str]
    repro_seconds: float


@pytest.fixture(scope="module")
def s3_project(seaweed: S3Server, tmp_path_factory) -> Pushed:
    """An s3 bake pointed at SeaweedFS: full `dvc repro`, commit, `dvc push` and `dvc push --run-cache`."""
    project = bake(
        tmp_path_factory.mktemp("s3"),
        project_slug=SLUG,
        dvc_remote="s3",
        s3_bucket=BUCKET,
        s3_region=REGION,
        s3_endpoint_url=seaweed.endpoint,
    )
    env = {**s3_env(tmp_path_factory.mktemp("aws")), **seaweed.credentials()}
    result, seconds = timed(repro, project)
    assert ran_stages(result) == STAGES
    commit(project, "Reproduce the pipeline")
    assert "files pushed" in dvc(project, "push", env=env).stdout
    dvc(project, "push", "--run-cache", env=env)
    return Pushed(project, env, seconds)


@pytest.fixture(scope="module")
def local_project(tmp_path_factory) -> Path:
    """The default bake (`local` remote): full `dvc repro`, commit, push of data, models and run-cache, offline."""
    project = bake(tmp_path_factory.mktemp("local"))
    assert ran_stages(repro(project)) == STAGES
    commit(project, "Reproduce the pipeline")
    run([*NO_NETWORK, "dvc", "push"], project)
    run([*NO_NETWORK, "dvc", "push", "--run-cache"], project)
    return project


def test_s3_push_stores_data_models_and_run_cache_and_no_credentials(s3_project, seaweed):
    project = s3_project.project
    config = (project / ".dvc/config").read_text()
    assert f"url = s3://{BUCKET}/{SLUG}" in config and f"endpointurl = {seaweed.endpoint}" in config
    assert "connect_timeout = 10" in config and "read_timeout = 60" in config
    assert seaweed.access_key not in config and seaweed.secret_key not in config and "access_key" not in config

    status = dvc(project, "status", "--cloud", env=s3_project.env)
    assert "Cache and remote 'storage' are in sync." in status.stdout

    keys = set(seaweed.keys(BUCKET, f"{SLUG}/"))
    cache = project / ".dvc/cache"
    runs = {f"{SLUG}/{entry.relative_to(cache).as_posix()}" for entry in (cache / "runs").rglob("*") if entry.is_file()}
    assert runs and runs <= keys
    assert any(key.startswith(f"{SLUG}/files/md5/") for key in keys)
    assert run_cached_stages(project) == set(STAGES) - NOT_RUN_CACHED


def test_s3_pull_in_a_fresh_clone_is_byte_identical(s3_project, tmp_path):
    clone = fresh_clone(s3_project.project, tmp_path / "clone")
    assert data_files(clone) == [] and all((clone / "data" / path).is_file() for path in GIT_DATA)

    result, seconds = timed(dvc, clone, "pull", env=s3_project.env)

    assert "files fetched" in result.stdout
    assert outputs(clone) == outputs(s3_project.project)
    print(f"\nfull dvc repro {s3_project.repro_seconds:.1f} s; dvc pull into a fresh clone {seconds:.1f} s")


def test_s3_pull_with_run_cache_then_repro_runs_no_stage(s3_project, tmp_path):
    clone = fresh_clone(s3_project.project, tmp_path / "clone")

    _, pull_seconds = timed(dvc, clone, "pull", "--run-cache", env=s3_project.env)
    result, repro_seconds = timed(repro, clone)  # offline: nothing left to fetch

    assert run_cached_stages(clone) == set(STAGES) - NOT_RUN_CACHED
    assert ran_stages(result) == []
    assert "Data and pipelines are up to date." in result.stdout
    assert outputs(clone) == outputs(s3_project.project)
    print(
        f"\nfull dvc repro {s3_project.repro_seconds:.1f} s; restored: dvc pull --run-cache {pull_seconds:.1f} s"
        f" + dvc repro {repro_seconds:.1f} s"
    )


def test_s3_repro_pull_allow_missing_runs_no_stage_and_fetches_nothing(s3_project, tmp_path):
    """`--allow-missing` is the cheap check that the committed dvc.lock is current: it skips
    every unchanged stage without downloading its outputs. `--pull` alone downloads them,
    `promote`'s `persist: true` models included (from dvc.lock, not from the run-cache)."""
    clone = fresh_clone(s3_project.project, tmp_path / "clone")

    result, check_seconds = timed(dvc, clone, "repro", "--pull", "--allow-missing", env=s3_project.env)

    assert ran_stages(result) == []
    assert all(f"Stage '{stage}' didn't change, skipping" in result.stdout for stage in STAGES)
    assert "Data and pipelines are up to date." in result.stdout
    assert data_files(clone) == []

    result, pull_seconds = timed(dvc, clone, "repro", "--pull", env=s3_project.env)

    assert ran_stages(result) == []
    assert "Pulling data for stage: 'promote'" in result.stdout
    assert outputs(clone) == outputs(s3_project.project)
    print(
        f"\nfull dvc repro {s3_project.repro_seconds:.1f} s; dvc repro --pull --allow-missing"
        f" {check_seconds:.1f} s; dvc repro --pull {pull_seconds:.1f} s"
    )


def test_shared_run_cache_restores_training_but_evaluate_and_promote_rerun(s3_project, tmp_path):
    """A teammate runs another classifier C and pushes the run-cache without committing; whoever
    sets the same C reuses the trained model. `evaluate` and `promote` are never run-cached
    (see NOT_RUN_CACHED), so they run again, and give the teammate's bytes."""
    teammate = tmp_path / "teammate"
    shutil.copytree(s3_project.project, teammate, symlinks=True)
    set_param(teammate, "  C: 4.0\n", "  C: 2.0\n")
    _, teammate_seconds = timed(repro, teammate)
    dvc(teammate, "push", "--run-cache", env=s3_project.env)

    clone = fresh_clone(s3_project.project, tmp_path / "clone")
    dvc(clone, "pull", env=s3_project.env)
    set_param(clone, "  C: 4.0\n", "  C: 2.0\n")
    result, seconds = timed(dvc, clone, "repro", "--pull", env=s3_project.env)

    assert "Stage 'train_classifier' is cached - skipping run, checking out outputs" in result.stdout
    assert ran_stages(result) == ["evaluate", "promote", "drift"]
    assert outputs(clone) == outputs(teammate)
    print(
        f"\nC=2.0: the teammate's dvc repro {teammate_seconds:.1f} s;"
        f" dvc repro --pull with their run-cache {seconds:.1f} s"
    )


def test_ci_sequence_restores_what_was_pushed_and_remote_check_names_what_was_not(s3_project, tmp_path):
    """The generated CI on a checkout without data runs `make ci-repro` (restore with `--pull`, then
    evaluate and promote again), then (on main) `make push`. That passes even when the developer
    committed dvc.lock but never pushed the outputs; `make remote-check` names what the remote lacks."""
    developer = tmp_path / "developer"
    shutil.copytree(s3_project.project, developer, symlinks=True)
    set_param(developer, "  C: 4.0\n", "  C: 3.0\n")
    assert ran_stages(repro(developer)) == ["train_classifier", "evaluate", "promote", "drift"]
    commit(developer, "Classifier C 3.0")
    ci = fresh_clone(developer, tmp_path / "ci")

    result = make(ci, "ci-repro", env={**s3_project.env, "DVC_REMOTE_READY": "true"})

    # the classifier was never pushed, so it is rebuilt; then the candidate is measured and gated again
    assert ran_stages(result) == ["train_classifier", "evaluate", "promote"]
    check = make(ci, "remote-check", env=s3_project.env, code=2)
    header, *missing = check.stdout.splitlines()
    assert header == "not on the DVC remote (run dvc push):"
    assert sorted(missing) == ["  models/candidate/classifier.skops", "  models/production/"]

    dvc(developer, "push", env=s3_project.env)
    assert make(ci, "remote-check", env=s3_project.env).stdout == "the DVC remote has every output dvc.lock names\n"
    make(ci, "push", env=s3_project.env)
    clone = fresh_clone(developer, tmp_path / "clone")
    dvc(clone, "pull", env=s3_project.env)

    assert outputs(clone) == outputs(developer)
    result = repro(clone)  # offline: every output matches the committed dvc.lock
    assert ran_stages(result) == [], result.stdout


def test_local_remote_round_trip_needs_no_server(local_project, tmp_path):
    storage = local_project.parent / f"{local_project.name}-dvc-storage"
    assert (storage / "files/md5").is_dir() and (storage / "runs").is_dir()
    clone = fresh_clone(local_project, tmp_path / "clone")
    # the absolute path is committed in .dvc/config: a clone on this machine uses the same storage
    assert f"url = {storage}" in (clone / ".dvc/config").read_text()

    run([*NO_NETWORK, "dvc", "pull", "--run-cache"], clone)

    assert outputs(clone) == outputs(local_project)
    assert run_cached_stages(clone) == set(STAGES) - NOT_RUN_CACHED
    result = repro(clone)
    assert ran_stages(result) == []
    assert "Data and pipelines are up to date." in result.stdout


@pytest.fixture
def on_moto(s3_project, moto_iam, tmp_path):
    """A private copy of the pushed s3 project whose remote is moto's (via .dvc/config.local)."""
    server, process = moto_iam
    project = tmp_path / "project"
    shutil.copytree(s3_project.project, project, symlinks=True)
    env = s3_env(tmp_path / "aws")
    dvc(project, "remote", "modify", "--local", "storage", "endpointurl", server.endpoint, env=env)
    return project, server, process, env


def clone_on(server: S3Server, project: Path, where: Path, env: dict[str, str]) -> Path:
    """A fresh clone whose remote is `server`, as a user would point it there."""
    clone = fresh_clone(project, where)
    dvc(clone, "remote", "modify", "--local", "storage", "endpointurl", server.endpoint, env=env)
    return clone


def test_missing_or_wrong_credentials_are_refused_and_leave_everything_as_it_was(on_moto, tmp_path):
    project, server, _, env = on_moto
    wrong = {**env, **server.credentials(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    before = workspace(project)

    result = dvc(project, "push", env=env, check=False)

    assert result.returncode != 0
    assert "Unable to locate credentials" in result.stderr

    result, seconds = timed(dvc, project, "push", env=wrong, check=False)

    assert result.returncode != 0
    assert "403" in result.stderr and "Forbidden" in result.stderr
    assert seconds < FAIL_FAST
    assert workspace(project) == before
    assert server.keys(BUCKET) == []

    # with the right key the push goes through; a clone with the wrong one gets the same 403
    dvc(project, "push", env={**env, **server.credentials()})
    clone = clone_on(server, project, tmp_path / "clone", env)
    cloned = workspace(clone)

    result = dvc(clone, "pull", env=wrong, check=False)

    assert result.returncode != 0
    assert "403" in result.stderr and "Forbidden" in result.stderr
    assert workspace(clone) == cloned  # no partial file


def test_a_stopped_server_fails_fast_with_a_connection_error(on_moto, tmp_path):
    project, server, process, env = on_moto
    # credentials in the git-ignored .dvc/config.local this time, never in .dvc/config
    dvc(project, "remote", "modify", "--local", "storage", "access_key_id", server.access_key, env=env)
    dvc(project, "remote", "modify", "--local", "storage", "secret_access_key", server.secret_key, env=env)
    assert server.secret_key not in (project / ".dvc/config").read_text()
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    dvc(project, "push", env=env)
    clone = clone_on(server, project, tmp_path / "clone", env)
    for option, value in (("access_key_id", server.access_key), ("secret_access_key", server.secret_key)):
        dvc(clone, "remote", "modify", "--local", "storage", option, value, env=env)
    before, cloned = workspace(project), workspace(clone)

    stop(process)
    pulled, pull_seconds = timed(dvc, clone, "pull", env=env, check=False)
    pushed, push_seconds = timed(dvc, project, "push", env=env, check=False)

    for result, seconds in ((pulled, pull_seconds), (pushed, push_seconds)):
        assert result.returncode != 0
        assert f'Could not connect to the endpoint URL: "{server.endpoint}/' in result.stderr
        assert seconds < FAIL_FAST
    assert workspace(clone) == cloned
    assert workspace(project) == before


def test_a_missing_bucket_is_named_and_nothing_is_created(on_moto):
    project, server, _, env = on_moto
    env = {**env, **server.credentials()}
    dvc(project, "remote", "modify", "--local", "storage", "url", f"s3://no-such-bucket/{SLUG}", env=env)
    before = workspace(project)

    result, seconds = timed(dvc, project, "push", env=env, check=False)

    assert result.returncode != 0
    assert "NoSuchBucket" in result.stderr and "The specified bucket does not exist" in result.stderr
    assert seconds < FAIL_FAST
    assert workspace(project) == before
    assert [bucket["Name"] for bucket in server.client().list_buckets()["Buckets"]] == [BUCKET]


def test_a_server_that_never_answers_is_cut_off_by_read_timeout(s3_project, tmp_path):
    """The remote's `read_timeout` reaches the S3 client. The server is a listening socket that
    never accepts: the kernel completes each connection and no answer ever comes. s3fs tries
    each request 5 times and botocore each try AWS_MAX_ATTEMPTS times, so one request waits
    about 5 x AWS_MAX_ATTEMPTS x read_timeout."""
    project = tmp_path / "project"
    shutil.copytree(s3_project.project, project, symlinks=True)
    env = {**s3_project.env, "AWS_MAX_ATTEMPTS": "1"}
    with closing(socket.socket()) as silent:
        silent.bind((HOST, 0))
        silent.listen(socket.SOMAXCONN)  # a full accept queue would turn this into connect timeouts
        endpoint = f"http://{HOST}:{silent.getsockname()[1]}"
        dvc(project, "remote", "modify", "--local", "storage", "endpointurl", endpoint, env=env)
        dvc(project, "remote", "modify", "--local", "storage", "read_timeout", "1", env=env)
        before = workspace(project)

        result, seconds = timed(dvc, project, "push", env=env, check=False)

    assert result.returncode != 0
    assert f'Read timeout on endpoint URL: "{endpoint}/' in result.stderr
    assert 5 * 1 <= seconds < FAIL_FAST
    assert workspace(project) == before
