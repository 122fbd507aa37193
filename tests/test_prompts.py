"""Bad answers are refused before anything is generated, with one clear line that says what is allowed.

These tests run the real ``cookiecutter`` CLI on this template. They only bake answers the
pre-generation hook (hooks/pre_gen_project.py) must refuse or accept; generating a full
project is tested elsewhere.

Note: for choice prompts, ``--no-input key=value`` with a value outside the choices is refused
by cookiecutter itself (a ValueError naming the variable and its choices) before any hook runs.
The hook re-checks choices for answers that bypass that, such as a replay file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR, base_env

PRE_GEN_HOOK = TEMPLATE_DIR / "hooks" / "pre_gen_project.py"
STOP_TEXT = "Stopping generation"


def run_cookiecutter(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the CLI with a private config (no ~/.cookiecutterrc defaults, no replay files in $HOME)."""
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    config = tmp_path / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(tmp_path / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(tmp_path / 'replay'))}\n",
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "cookiecutter", "--config-file", str(config), *args]
    command += ["--output-dir", str(output_dir)]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env=base_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, so the order of messages is preserved
        text=True,
        timeout=300,
        check=False,
    )
    return result, output_dir


def bake(tmp_path: Path, answers: dict[str, str]) -> tuple[subprocess.CompletedProcess, Path]:
    extra = [f"{key}={value}" for key, value in answers.items()]
    return run_cookiecutter(tmp_path, "--no-input", str(TEMPLATE_DIR), *extra)


def hook_error_line(output: str, key: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(f"ERROR: {key} ")]
    assert lines, f"no 'ERROR: {key} ...' line in output:\n{output}"
    return lines[0]


def assert_refused_by_hook(result: subprocess.CompletedProcess, output_dir: Path, key: str, allowed: str):
    output = result.stdout
    assert result.returncode != 0, output
    line = hook_error_line(output, key)
    assert allowed in line, f"{allowed!r} not in {line!r}"
    assert STOP_TEXT in output, output
    assert output.index(line) < output.index(STOP_TEXT), "the hook's ERROR line must come first"
    assert list(output_dir.iterdir()) == [], "nothing may be generated"


S3 = {"dvc_remote": "s3"}

BAD_ANSWERS = [
    pytest.param({"project_slug": "My Project"}, "project_slug", "lowercase letters", id="slug-capitals"),
    pytest.param({"project_slug": "-x"}, "project_slug", "starting with a letter", id="slug-leading-hyphen"),
    pytest.param({"package_name": "class"}, "package_name", "not a keyword", id="package-keyword"),
    pytest.param({"package_name": "json"}, "package_name", "not a stdlib name", id="package-stdlib"),
    pytest.param({"package_name": "my-pkg"}, "package_name", "underscores", id="package-hyphen"),
    pytest.param({"project_name": " "}, "project_name", "human-readable name", id="name-blank"),
    pytest.param({"description": "Ship it \U0001f680"}, "description", "printable text", id="description-emoji"),
    pytest.param({"author_name": "A\x07B"}, "author_name", "printable text", id="author-control-char"),
    pytest.param({"author_email": "nobody"}, "author_email", "name@example.com", id="email-no-at"),
    pytest.param({**S3, "s3_bucket": "My_Bucket"}, "s3_bucket", "lowercase letters", id="bucket-case"),
    pytest.param({**S3, "s3_bucket": "ab"}, "s3_bucket", "3-63 characters", id="bucket-too-short"),
    pytest.param({**S3, "s3_bucket": "192.168.1.1"}, "s3_bucket", "IP address", id="bucket-ip"),
    pytest.param({**S3, "s3_bucket": "xn--abc"}, "s3_bucket", "must not start with", id="bucket-xn-prefix"),
    pytest.param({**S3, "s3_endpoint_url": "ftp://x"}, "s3_endpoint_url", "https://", id="endpoint-ftp"),
    pytest.param({**S3, "s3_region": "moon"}, "s3_region", "us-east-1", id="region-moon"),
]


@pytest.mark.parametrize(("answers", "key", "allowed"), BAD_ANSWERS)
def test_bad_answer_is_refused_before_generation(tmp_path, answers, key, allowed):
    result, output_dir = bake(tmp_path, answers)
    assert_refused_by_hook(result, output_dir, key, allowed)


BAD_CHOICES = [
    pytest.param("python_version", "3.8", id="python-3.8"),
    pytest.param("embedding_backend", "word2vec", id="embedding-word2vec"),
    pytest.param("dvc_remote", "gcs", id="remote-gcs"),
]


@pytest.mark.parametrize(("key", "value"), BAD_CHOICES)
def test_bad_choice_on_command_line_is_refused(tmp_path, key, value):
    """cookiecutter refuses these itself, before the hook, naming the variable and its choices."""
    result, output_dir = bake(tmp_path, {key: value})
    assert result.returncode != 0, result.stdout
    allowed = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))[key]
    assert f"{value} provided for choice variable {key}" in result.stdout, result.stdout
    assert str(allowed) in result.stdout, result.stdout
    assert list(output_dir.iterdir()) == []


def valid_answers() -> dict:
    """Default answers with the Jinja defaults resolved, as cookiecutter would store them in a replay file."""
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))
    answers = {key: value[0] if isinstance(value, list) else value for key, value in context.items()}
    slug = "support-triage"
    return {**answers, "project_slug": slug, "package_name": "support_triage", "s3_prefix": slug}


@pytest.mark.parametrize(("key", "value"), BAD_CHOICES)
def test_bad_choice_in_replay_file_is_refused_by_hook(tmp_path, key, value):
    replay_file = tmp_path / "answers.json"
    replay_file.write_text(json.dumps({"cookiecutter": {**valid_answers(), key: value}}), encoding="utf-8")
    result, output_dir = run_cookiecutter(tmp_path, "--replay-file", str(replay_file), str(TEMPLATE_DIR))
    allowed = ", ".join(json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))[key])
    assert_refused_by_hook(result, output_dir, key, f"choose one of {allowed}")


MINIO = {"s3_region": "", "s3_endpoint_url": "http://localhost:9000"}
ACCEPTED = [
    pytest.param({"dvc_remote": "local", "s3_bucket": "My_Bucket"}, id="bad-bucket-unused-with-local-remote"),
    pytest.param({**S3, **MINIO}, id="empty-region-with-endpoint"),
]


@pytest.mark.parametrize("answers", ACCEPTED)
def test_answers_pass_the_pre_generation_hook(tmp_path, answers):
    result, output_dir = bake(tmp_path, answers)
    assert result.returncode == 0, result.stdout
    assert (output_dir / "support-triage" / "dvc.yaml").exists()


def hook_constant(name: str):
    tree = ast.parse(PRE_GEN_HOOK.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {PRE_GEN_HOOK}")


def test_hook_choices_match_cookiecutter_json():
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))
    # keys starting with "_" are cookiecutter's settings (e.g. _copy_without_render), not prompts
    json_choices = {key: list(v) for key, v in context.items() if isinstance(v, list) and not key.startswith("_")}
    hook_choices = {key: list(value) for key, value in hook_constant("CHOICES").items()}
    assert hook_choices == json_choices
