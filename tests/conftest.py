"""Baking and running generated projects with the real cookiecutter, git and dvc CLIs.

A bake costs seconds and a full `dvc repro` tens of seconds, so each option set
is baked once per test session and reproduced once; tests that change a
project work on a copy of it (`reproduced_copy`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_PACKAGE = "support_triage"
STAGES = [
    "validate",
    "split",
    "train_classifier",
    "train_encoder",
    "evaluate",
    "promote",
    "embed",
    "index",
    "drift",
]
RAN = re.compile(r"^Running stage '([a-z_]+)':", re.MULTILINE)


def base_env() -> dict[str, str]:
    """The environment of every command: the test venv first on PATH, nothing phoned home."""
    venv_bin = str(Path(sys.executable).parent)
    # Not the outer `make test`'s variables: a generated project's `make` must behave as in a user's shell.
    inherited = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return {
        **inherited,
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")]),
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "CI": "true",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Template Tests",
        "GIT_AUTHOR_EMAIL": "tests@example.com",
        "GIT_COMMITTER_NAME": "Template Tests",
        "GIT_COMMITTER_EMAIL": "tests@example.com",
    }


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 900, **env: str) -> subprocess.CompletedProcess:
    """Run a command; on an unexpected exit code fail with its whole output."""
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env={**base_env(), "PYTHONPATH": str(cwd / "src"), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with the real CLI and `--no-input`; return the project folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    extra = [f"{key}={value}" for key, value in answers.items()]
    run(
        [sys.executable, "-m", "cookiecutter", "--no-input", TEMPLATE_DIR, "--output-dir", output_dir, *extra],
        output_dir,
    )
    (project,) = [p for p in output_dir.iterdir() if (p / "dvc.yaml").exists()]
    return project


ALLOW_NETWORK = "TEMPLATE_TESTS_ALLOW_NETWORK"


def _no_network_prefix() -> list[str]:
    """`unshare --net` (root), else `unshare --map-root-user --net` (user namespaces): no network at all."""
    if not shutil.which("unshare"):
        return []
    for prefix in (["unshare", "--net", "--"], ["unshare", "--map-root-user", "--net", "--"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


NO_NETWORK = _no_network_prefix()


def pytest_sessionstart(session) -> None:
    """The offline promise is tested with the network cut off; where that is impossible, say so and stop."""
    if not NO_NETWORK and os.environ.get(ALLOW_NETWORK) != "1":
        pytest.exit(
            "cannot cut the network for the pipeline runs here (`unshare --net` is missing or not permitted), so "
            f"the tests could not prove the project works offline; set {ALLOW_NETWORK}=1 to run them with the network",
            returncode=1,
        )


def repro(project: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """`dvc repro` with the network cut off (see `pytest_sessionstart`): the pipeline must run offline."""
    return run([*NO_NETWORK, "dvc", "repro", *args], project, check=check, **env)


def commit(project: Path, message: str) -> None:
    """Commit everything in the project, as `git add -A && git commit` would."""
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", message], project)


def ran_stages(result: subprocess.CompletedProcess) -> list[str]:
    """Stages that `dvc repro` ran, in order, read from its output."""
    return RAN.findall(result.stdout + result.stderr)


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder`, by relative path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def set_param(project: Path, line: str, new_line: str) -> None:
    """Edit one line of params.yaml, keeping its comments (as a user would)."""
    params = project / "params.yaml"
    text = params.read_text()
    assert text.count(line) == 1, f"{line!r} is not a unique line of params.yaml"
    params.write_text(text.replace(line, new_line))


@pytest.fixture(scope="session")
def default_project(tmp_path_factory) -> Path:
    """The default bake, untouched (git and DVC initialised, one commit)."""
    return bake(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A default bake after one full `dvc repro`, and that run's output. Read only."""
    project = bake(tmp_path_factory.mktemp("reproduced"))
    return project, repro(project)


@pytest.fixture
def reproduced_copy(reproduced, tmp_path) -> Path:
    """A private copy of the reproduced project (workspace, git and DVC cache) to change."""
    project, _ = reproduced
    copy = tmp_path / project.name
    shutil.copytree(project, copy, symlinks=True)
    return copy
