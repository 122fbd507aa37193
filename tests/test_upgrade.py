"""Upgrading a generated project to a newer template with cruft (create, check, update, link).

The template under test is this checkout's working tree, committed into a private
git repository (commit A); each test then commits a later template version (B)
there, as a maintainer would, and upgrades a project made from A. cruft runs the
post-gen hook again for both versions in temporary folders and diffs them, so the
hook's own products (`.git`, `.dvc` with its absolute remote path) must stay out of
that diff: the generated pyproject.toml lists them under `[tool.cruft] skip`.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR, commit, ran_stages, repro, run, set_param

pytestmark = pytest.mark.xdist_group("upgrade")

PROJECT = "{{cookiecutter.project_slug}}"
SLUG = "support-triage"
# A new Makefile target and a new first line in params.yaml, which users also edit.
NEW_TARGET = "dag:  ## print the pipeline's stage graph\n\tdvc dag\n"
NEW_PARAMS_LINE = "# Run `make dag` to see which stages read which section.\n"


def template_repo(repo: Path) -> str:
    """A git repository of the template as it is in this checkout (tracked files, working-tree content); commit A."""
    for name in run(["git", "ls-files", "-z"], TEMPLATE_DIR).stdout.split("\0"):
        source = TEMPLATE_DIR / name
        if name and source.is_file():  # a tracked file deleted in the working tree is left out
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    run(["git", "init", "-q", "-b", "main"], repo)
    commit(repo, "Template A")
    return head(repo)


def release_b(repo: Path) -> str:
    """Commit B of the template: a new Makefile target and a new first line in params.yaml."""
    makefile = repo / PROJECT / "Makefile"
    text = makefile.read_text()
    assert text.count(".PHONY: ") == 1
    makefile.write_text(text.replace(".PHONY: ", ".PHONY: dag ") + "\n" + NEW_TARGET)
    params = repo / PROJECT / "params.yaml"
    params.write_text(NEW_PARAMS_LINE + params.read_text())
    commit(repo, "Template B: make dag")
    return head(repo)


def head(repo: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def cruft_state(project: Path) -> dict:
    return json.loads((project / ".cruft.json").read_text())


def changed_paths(project: Path) -> set[str]:
    """Paths that `git status` lists (staged, unstaged or untracked)."""
    return {line[3:] for line in run(["git", "status", "--porcelain"], project).stdout.splitlines()}


def assert_updated_to_b(project: Path, b: str) -> None:
    """What `cruft update` must leave: B's changes merged with the user's, nothing rejected, cruft content."""
    assert not list(project.rglob("*.rej"))
    assert changed_paths(project) == {".cruft.json", "Makefile", "params.yaml"}
    assert cruft_state(project)["commit"] == b
    assert NEW_TARGET in (project / "Makefile").read_text()
    assert (project / "params.yaml").read_text().startswith(NEW_PARAMS_LINE)
    assert run(["cruft", "check"], project).returncode == 0


@pytest.mark.pipeline
def test_cruft_update_merges_a_new_template_version_and_keeps_user_edits(tmp_path):
    repo = tmp_path / "template"
    a = template_repo(repo)
    run(["cruft", "create", repo, "--no-input", "--output-dir", tmp_path / "projects"], tmp_path)
    project = tmp_path / "projects" / SLUG
    assert cruft_state(project)["commit"] == a
    # cruft writes .cruft.json after the hook's initial commit
    assert changed_paths(project) == {".cruft.json"}
    commit(project, "Link the project to its template")
    # the user's own work: a tuned parameter, the pipeline run and committed
    set_param(project, "  C: 4.0\n", "  C: 2.0\n")
    repro(project)
    commit(project, "classifier.C=2.0")
    dvc_config = (project / ".dvc/config").read_text()

    b = release_b(repo)
    outdated = run(["cruft", "check"], project, check=False)
    assert outdated.returncode == 1 and "out of date" in outdated.stdout
    updated = run(["cruft", "update", "-y"], project)

    assert "Good work! Project's cruft has been updated" in updated.stdout
    assert_updated_to_b(project, b)
    assert "  C: 2.0\n" in (project / "params.yaml").read_text()
    assert (project / ".dvc/config").read_text() == dvc_config
    commit(project, "Update from the template")
    # a comment and a Makefile target: no stage is out of date, the new target works
    result = repro(project)
    assert ran_stages(result) == [] and "Data and pipelines are up to date." in result.stdout
    dag = run(["make", "dag"], project).stdout
    assert "train_classifier" in dag and "index" in dag


def test_cruft_link_adopts_a_project_made_with_cookiecutter(tmp_path):
    repo = tmp_path / "template"
    a = template_repo(repo)
    run([sys.executable, "-m", "cookiecutter", "--no-input", repo, "--output-dir", tmp_path / "projects"], tmp_path)
    project = tmp_path / "projects" / SLUG
    b = release_b(repo)

    # made from A: link it to A, not to the template's latest commit
    run(["cruft", "link", repo, "--no-input", "--checkout", a], project)
    assert cruft_state(project)["commit"] == a
    assert cruft_state(project)["context"]["cookiecutter"]["package_name"] == "support_triage"
    commit(project, "Link the project to its template")
    assert run(["cruft", "check"], project, check=False).returncode == 1
    run(["cruft", "update", "-y"], project)

    assert_updated_to_b(project, b)
    assert "train_classifier" in run(["make", "dag"], project).stdout
