"""The documentation site builds with `mkdocs build --strict`, and its Options page cannot drift.

The Options page is generated from cookiecutter.json and docs/options.yaml by
docs/hooks/options_page.py; an option or a choice without help must fail the
build with a message that names it. No project is baked here: the figures under
docs/figures/ are committed (docs/figures/render.py makes them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE_DIR

OPTIONS = [key for key in json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text()) if not key.startswith("_")]


def mkdocs_build(root: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the site whose mkdocs.yml is in `root`, into `site`."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"), "-d", str(site)],
        cwd=root,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_site_builds_strict_and_lists_every_option(tmp_path):
    result = mkdocs_build(TEMPLATE_DIR, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr

    page = (tmp_path / "site" / "options" / "index.html").read_text(encoding="utf-8")
    missing = [key for key in OPTIONS if f'id="{key}"' not in page]
    assert not missing, f"the Options page has no section for {missing}"
    # The help file is an input of the page, not a page of the site.
    assert not (tmp_path / "site" / "options.yaml").exists()


def choice_option() -> str:
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    return next(key for key in OPTIONS if isinstance(context[key], list))


def drop_option(help_entries: dict) -> str:
    del help_entries[OPTIONS[-1]]
    return f"option '{OPTIONS[-1]}' has no help text"


def drop_choice(help_entries: dict) -> str:
    key = choice_option()
    choice = next(iter(help_entries[key]["choices"]))
    del help_entries[key]["choices"][choice]
    return f"choice '{choice}' of option '{key}' has no description"


def add_unknown_option(help_entries: dict) -> str:
    help_entries["gpu_count"] = {"help": "How many GPUs."}
    return "help for option 'gpu_count', which cookiecutter.json does not have"


@pytest.mark.parametrize("break_help", [drop_option, drop_choice, add_unknown_option])
def test_help_that_does_not_match_cookiecutter_json_fails_the_build(tmp_path, break_help):
    root = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR / "docs", root / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "cookiecutter.json"):
        shutil.copy2(TEMPLATE_DIR / name, root / name)
    help_file = root / "docs" / "options.yaml"
    help_entries = yaml.safe_load(help_file.read_text(encoding="utf-8"))
    expected = break_help(help_entries)
    help_file.write_text(yaml.safe_dump(help_entries, sort_keys=False), encoding="utf-8")

    result = mkdocs_build(root, tmp_path / "site")

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert expected in output
    assert not (tmp_path / "site" / "options").exists()
