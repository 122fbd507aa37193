"""Finish the generated project: drop what the options do not need, then set up git and DVC.

Runs in the new project's directory. Steps:

1. Remove files the chosen options do not use (the ``REMOVE_WHEN`` table).
2. If both ``git`` and ``dvc`` are on PATH: ``git init``, ``dvc init``, configure the DVC remote
   (never any credentials), enable DVC autostage, and make the initial commit. If git has no
   user identity, the author's name/email are passed for that one commit only (``git -c``).
   A failing command prints one ``ERROR:`` line plus the commands to finish by hand; the hook
   still exits 0, because cookiecutter deletes the whole project when a post-gen hook fails.
3. If git or dvc is missing: print the commands to run by hand and exit 0.
4. Print the next steps.

Standard library only, so plain ``cookiecutter`` and ``cruft create`` can run it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# Rendered by cookiecutter; ``tojson`` escapes quotes, so any answer is safe here.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

COMMIT_MESSAGE = "Initial project from cookiecutter-dvc-pipeline"

# Path inside the project -> remove it when the condition is true. One line per optional file.
REMOVE_WHEN = {
    ".github": ANSWERS["ci_provider"] != "github",
    ".gitlab-ci.yml": ANSWERS["ci_provider"] != "gitlab",
    ".gitlab": ANSWERS["ci_provider"] != "gitlab",
    "LICENSE": ANSWERS["license"] == "Proprietary",
    "Dockerfile": ANSWERS["serving"] == "none",
    ".dockerignore": ANSWERS["serving"] == "none",
    "scripts/smoke.py": ANSWERS["serving"] == "none",
    "scripts/shadow.sh": ANSWERS["serving"] == "none",
    "scripts/deploy.sh": ANSWERS["serving"] == "none",
    f"src/{ANSWERS['package_name']}/serve.py": ANSWERS["serving"] == "none",
    "tests/test_serve.py": ANSWERS["serving"] == "none",
    f"src/{ANSWERS['package_name']}/rollout.py": ANSWERS["serving"] == "none",
    f"src/{ANSWERS['package_name']}/traffic.py": ANSWERS["serving"] == "none",
    "tests/test_rollout.py": ANSWERS["serving"] == "none",
    "tests/test_traffic.py": ANSWERS["serving"] == "none",
    ".github/workflows/rollout.yml": ANSWERS["serving"] == "none",
}

# Bounds on each request, written out so users see and can lower them (60 s is also boto's default read timeout).
S3_TIMEOUTS = (("connect_timeout", "10"), ("read_timeout", "60"))

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}


def remove_unneeded(project: Path) -> None:
    for relative, remove in REMOVE_WHEN.items():
        path = project / relative
        if not remove:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def remote_commands(answers: dict, project: Path) -> list[list[str]]:
    """``dvc remote`` commands for the chosen remote; no credentials are ever written."""
    remote = answers["dvc_remote"]
    if remote == "local":
        storage = project.parent / f"{answers['project_slug']}-dvc-storage"
        return [["dvc", "remote", "add", "-d", "local", str(storage)]]
    if remote == "s3":
        prefix = answers["s3_prefix"].strip("/")
        url = f"s3://{answers['s3_bucket']}/{prefix}" if prefix else f"s3://{answers['s3_bucket']}"
        options = (
            ("region", answers["s3_region"]),
            ("endpointurl", answers["s3_endpoint_url"]),
            *S3_TIMEOUTS,
        )
        modify = [["dvc", "remote", "modify", "storage", name, value] for name, value in options if value]
        return [["dvc", "remote", "add", "-d", "storage", url], *modify]
    return []


def setup_commands(answers: dict, project: Path) -> list[list[str]]:
    return [
        ["git", "init", "-q", "-b", "main"],
        ["dvc", "init", "-q"],
        *remote_commands(answers, project),
        ["dvc", "config", "core.autostage", "true"],
        ["dvc", "config", "core.analytics", "false"],  # offline by default: no usage reports
        # `dvc plots show` writes a page with vega inline instead of loading it from a CDN (path relative to .dvc/)
        ["dvc", "config", "plots.html_template", f"../src/{answers['package_name']}/vendor/plots.html"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", COMMIT_MESSAGE],
    ]


def identity_flags(answers: dict) -> list[str]:
    """``-c user.x=...`` for each identity setting git lacks (checked inside the new repository)."""
    defaults = {"user.name": answers.get("author_name") or "Author", "user.email": answers["author_email"]}
    flags = []
    for key, value in defaults.items():
        command = ["git", "config", "--get", key]
        found = subprocess.run(command, check=False, capture_output=True, text=True, env=ENV)
        if found.returncode != 0 or not found.stdout.strip():
            flags += ["-c", f"{key}={value}"]
    return flags


def first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else "no error output"


def print_by_hand(project: Path, commands: list[list[str]], file=sys.stdout) -> None:
    print(f"  cd {shlex.quote(str(project))}", file=file)
    for command in commands:
        print(f"  {shlex.join(command)}", file=file)


def run_setup(answers: dict, project: Path) -> int:
    commands = setup_commands(answers, project)
    for index, command in enumerate(commands):
        if command[:2] == ["git", "commit"]:
            command = ["git", *identity_flags(answers), *command[1:]]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, errors="replace", env=ENV)
        except subprocess.CalledProcessError as exc:
            reason = first_line(exc.stderr) if (exc.stderr or "").strip() else first_line(exc.stdout)
        except OSError as exc:
            reason = str(exc)
        else:
            continue
        print(f"ERROR: {shlex.join(command)} failed: {reason}", file=sys.stderr, flush=True)
        print("Fix the cause, then finish the setup by hand:", file=sys.stderr)
        print_by_hand(project, commands[index:], file=sys.stderr)
        return 1
    return 0


def display_path(project: Path) -> str:
    """The project path relative to the user's shell directory when possible, else absolute."""
    try:
        return str(project.relative_to(Path(os.environ["PWD"]).resolve()))
    except (KeyError, ValueError):
        return str(project)


def print_next_steps(answers: dict, project: Path) -> None:
    """The first commands of the project's README ("Run it")."""
    print("\nNext steps:")
    print(f"  cd {shlex.quote(display_path(project))}")
    print("  python -m venv .venv && . .venv/bin/activate")
    print("  make install    # `make` alone lists every target")
    print("  dvc repro")
    print("  make metrics")
    print('  git add -A && git commit -m "First results"')
    if answers["dvc_remote"] != "none":
        print("  dvc push    # upload data and models to the DVC remote")


def main() -> int:
    project = Path.cwd()
    remove_unneeded(project)
    missing = [tool for tool in ("git", "dvc") if shutil.which(tool) is None]
    if missing:
        tools = " and ".join(missing)
        print(f"NOTE: {tools} not found on PATH; the project is not under version control yet.")
        print(f"Install {tools}, then run:")
        print_by_hand(project, setup_commands(ANSWERS, project))
    elif run_setup(ANSWERS, project) != 0:
        return 0  # keep the generated files: the message above says how to finish
    else:
        print(f"Initialised git and DVC in {project} and made the initial commit.")
    print_next_steps(ANSWERS, project)
    return 0


if __name__ == "__main__":
    sys.exit(main())
