"""Model-set versions in real git tags of a baked project: register, stage, deprecate, roll back, fetch.

Every answer of the project's registry is checked against GTO's own reading of
the same tags (`gto show`, installed with dvc), including after a removal tag,
where `dvc artifacts get --stage` would take the newest tag of the stage.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import DEFAULT_PACKAGE, commit, repro, run, set_param

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("reproduced")]

REGISTRY = [sys.executable, "-m", f"{DEFAULT_PACKAGE}.registry"]
CHANGES = [("  C: 4.0\n", "  C: 2.0\n"), ("  C: 2.0\n", "  C: 8.0\n")]  # two more candidates that clear the floors


def registry(project: Path, *args: str, code: int = 0) -> str:
    result = run([*REGISTRY, *args], project, check=False)
    assert result.returncode == code, f"registry {args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def stages(project: Path) -> dict[str, str | None]:
    return json.loads(registry(project, "show", "--json"))["stages"]


def gto_stages(project: Path) -> dict[str, str]:
    shown = json.loads(run(["gto", "show", "--json"], project).stdout)
    return shown["model-set"]["stage"]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.fixture(scope="module")
def registered(reproduced, tmp_path_factory) -> tuple[Path, list[dict]]:
    """Three promoted model sets, each committed, registered (v1.0.0, v1.1.0, v1.2.0) and pushed; their manifests."""
    source, _ = reproduced
    base = tmp_path_factory.mktemp("registered")
    project = base / source.name
    shutil.copytree(source, project, symlinks=True)
    run(["dvc", "remote", "add", "-f", "-d", "local", str(base / "dvc-storage")], project)
    manifests = []
    for change in [None, *CHANGES]:
        if change:
            set_param(project, *change)
            repro(project)
        commit(project, f"Model set {len(manifests) + 1}")
        manifests.append(manifest(project / "models/production"))
        registry(project, "register")
        run(["dvc", "push", "-q"], project)
    return project, manifests


@pytest.fixture
def versions(registered, tmp_path) -> tuple[Path, list[dict]]:
    """A private copy of `registered` to add tags to."""
    source, manifests = registered
    project = tmp_path / source.name
    shutil.copytree(source, project, symlinks=True)
    return project, manifests


def test_register_assign_deprecate_and_roll_back_with_real_tags(versions, tmp_path):
    project, manifests = versions
    assert len({m["version"] for m in manifests}) == 3
    shown = json.loads(registry(project, "show", "--json"))
    assert [row["version"] for row in shown["versions"]] == ["v1.2.0", "v1.1.0", "v1.0.0"]
    assert [row["model_set"] for row in shown["versions"]] == [m["version"] for m in reversed(manifests)]
    message = run(["git", "tag", "-l", "--format=%(contents)", "model-set@v1.0.0"], project).stdout
    assert message.startswith(f"Register model-set v1.0.0: model set {manifests[0]['version']}")

    # the same model set twice, or prod before staging, is refused
    assert "is already model-set v1.2.0" in registry(project, "register", code=1)
    refused = registry(project, "assign", "v1.0.0", "prod", code=1)
    assert "registry: model-set v1.0.0 was never in staging" in refused
    assert stages(project) == {"staging": None, "prod": None}

    for version in ("v1.0.0", "v1.1.0", "v1.2.0"):
        registry(project, "assign", version, "staging")
        registry(project, "assign", version, "prod")
        assert stages(project) == {"staging": version, "prod": version} and gto_stages(project) == stages(project)

    # a removal tag is now the newest tag of prod: GTO's reading (and ours) falls back to v1.1.0
    registry(project, "deprecate", "v1.2.0", "prod")
    newest = run(["git", "tag", "-l", "model-set#prod*", "--sort=-creatordate", "--sort=-refname"], project)
    assert "model-set#prod!#" in newest.stdout
    assert stages(project) == {"staging": "v1.2.0", "prod": "v1.1.0"} == gto_stages(project)
    assert registry(project, "which", "prod").strip() == "v1.1.0"

    # rollback: v1.1.0 out, v1.0.0 in, in one step; the newest prod tag now names v1.0.0 too
    assert "prod is model-set v1.0.0 again" in registry(project, "rollback")
    assert stages(project)["prod"] == "v1.0.0" == gto_stages(project)["prod"]
    v1_commit = run(["git", "rev-list", "-n", "1", "model-set@v1.0.0"], project).stdout.strip()
    assert registry(project, "which", "prod", "--commit").strip() == v1_commit
    assert "nothing to roll back to" in registry(project, "rollback", code=1)
    assert stages(project)["prod"] == "v1.0.0"

    # deregistering a version removes it from every stage
    registry(project, "deprecate", "v1.2.0")
    assert stages(project) == {"staging": "v1.1.0", "prod": "v1.0.0"} == gto_stages(project)
    assert "v1.2.0" not in [row["version"] for row in json.loads(registry(project, "show", "--json"))["versions"]]

    # a fresh clone fetches prod's files from git and the DVC remote, byte for byte what was registered
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    registry(clone, "fetch", "prod", "--out", str(tmp_path / "prod"))
    assert manifest(tmp_path / "prod") == manifests[0]
    assert (tmp_path / "prod/index/source.json").is_file()
    assert "is not empty" in registry(clone, "fetch", "v1.1.0", "--out", str(tmp_path / "prod"), code=1)


def test_fetch_refuses_files_that_are_not_the_registered_ones(versions, tmp_path):
    project, manifests = versions
    # a registration whose recorded hashes are not those of the model set at its commit
    forged = {**manifests[1], "version": "000000000000"}
    message = f"Register model-set v9.0.0: model set 000000000000\n\n{json.dumps(forged)}\n"
    run(["git", "tag", "-a", "-m", message, "model-set@v9.0.0", "HEAD~1"], project)
    out = tmp_path / "v9"
    assert "is not the model set registered as v9.0.0" in registry(
        project, "fetch", "v9.0.0", "--out", str(out), code=1
    )
    assert "no version v3.0.0" in registry(project, "fetch", "v3.0.0", "--out", str(tmp_path / "x"), code=1)
    shutil.rmtree(out)
    registry(project, "fetch", "v1.1.0", "--out", str(out))
    assert manifest(out) == manifests[1]


def test_make_shortcuts_pass_versions_as_data(versions):
    project, _ = versions
    hostile = 'v1.0.0"; touch pwned; echo "'
    result = run(["make", "assign", f"VERSION={hostile}", "STAGE=staging"], project, check=False)
    assert result.returncode != 0 and "has no version" in result.stderr
    assert not (project / "pwned").exists()
    run(["make", "assign", "VERSION=v1.0.0", "STAGE=staging"], project)
    assert "model-set  (staging: v1.0.0, prod: -)" in run(["make", "versions"], project).stdout
