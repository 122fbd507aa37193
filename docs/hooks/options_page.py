"""MkDocs hook: generate the Options page from cookiecutter.json and docs/options.yaml.

cookiecutter.json says which options exist, their defaults, choices and prompt
wording (``__prompts__``); docs/options.yaml says what each option does and when
to pick each choice. The page is rebuilt from both on every build, so it cannot
drift from the template. The build fails when they disagree: an option or a
choice without help, or help for an option or choice that does not exist.

The generated text replaces the line ``<!-- options -->`` in docs/options.md;
the rest of that page is written by hand.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import jinja2
import yaml
from mkdocs.exceptions import PluginError

MARKER = "<!-- options -->"
PAGE = "options.md"
HELP_FILE = "options.yaml"


def template_root(config) -> Path:
    """The template repository: the folder of mkdocs.yml, which holds cookiecutter.json."""
    return Path(config.config_file_path).resolve().parent


def load_inputs(config) -> tuple[dict[str, Any], dict[str, Any]]:
    """cookiecutter.json and the help file, parsed; a missing or malformed file is a build error."""
    context_file = template_root(config) / "cookiecutter.json"
    help_file = Path(config.docs_dir) / HELP_FILE
    try:
        context = json.loads(context_file.read_text(encoding="utf-8"))
        help_entries = yaml.safe_load(help_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise PluginError(f"options page: cannot read {exc}") from exc
    if not isinstance(help_entries, dict):
        raise PluginError(f"options page: {help_file} must map each option name to its help")
    return context, help_entries


def options(context: dict[str, Any]) -> dict[str, Any]:
    """The options a user answers, in prompt order. Keys starting with `_` are cookiecutter internals."""
    return {key: value for key, value in context.items() if not key.startswith("_")}


def help_problems(context: dict[str, Any], help_entries: dict[str, Any]) -> list[str]:
    """Every mismatch between cookiecutter.json and the help file, one readable line each."""
    opts = options(context)
    problems = []
    for key, value in opts.items():
        entry = help_entries.get(key)
        if entry is None:
            problems.append(f"option '{key}' has no help text: add an entry '{key}:' with 'help:'")
            continue
        if not isinstance(entry, dict) or not str(entry.get("help") or "").strip():
            problems.append(f"option '{key}' has an empty help text: give it 'help:'")
            continue
        described = entry.get("choices") or {}
        if not isinstance(value, list):
            if described:
                problems.append(f"option '{key}' is not a choice option, but its help lists choices")
            continue
        if not isinstance(described, dict):
            problems.append(f"option '{key}': 'choices:' must map each choice to when to choose it")
            continue
        # YAML reads 3.10 as the float 3.1: choices must be quoted strings to compare exactly.
        for choice in described:
            if not isinstance(choice, str):
                problems.append(f"option '{key}': write the choice {choice!r} as a quoted string")
        for choice in value:
            if not str(described.get(str(choice)) or "").strip():
                problems.append(f"choice '{choice}' of option '{key}' has no description under 'choices:'")
        for choice in described:
            if isinstance(choice, str) and choice not in map(str, value):
                problems.append(f"option '{key}' describes choice '{choice}', which cookiecutter.json does not offer")
    for key in help_entries:
        if key not in opts:
            problems.append(f"help for option '{key}', which cookiecutter.json does not have")
    return problems


def rendered_defaults(context: dict[str, Any]) -> dict[str, Any]:
    """Each option's default as cookiecutter computes it with --no-input (Jinja defaults rendered in order)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    answers: dict[str, Any] = {}
    for key, value in options(context).items():
        default = value[0] if isinstance(value, list) else value
        if isinstance(default, str) and "{" in default:
            # On failure it is shown as written; cookiecutter renders it with its own extensions.
            with contextlib.suppress(jinja2.TemplateError):
                default = env.from_string(default).render(cookiecutter=answers)
        answers[key] = default
    return answers


def prompt_of(context: dict[str, Any], key: str) -> tuple[str, dict[str, str]]:
    """The prompt text of an option and, for choice options, the wording of each choice."""
    prompt = context.get("__prompts__", {}).get(key)
    if isinstance(prompt, dict):
        labels = {str(k): str(v) for k, v in prompt.items() if k != "__prompt__"}
        return str(prompt.get("__prompt__", key)), labels
    return (str(prompt) if prompt else key), {}


def code(value: Any) -> str:
    """A value as inline code; the empty string is spelled out, since `` renders as nothing."""
    text = str(value)
    return f"`{text}`" if text else "*(empty)*"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def is_computed(value: Any) -> bool:
    """A default written as a Jinja expression over earlier answers."""
    return isinstance(value, str) and "{" in value


def short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render(context: dict[str, Any], help_entries: dict[str, Any]) -> str:
    """The generated Markdown: a summary table, then one section per option."""
    defaults = rendered_defaults(context)
    # md_in_html: the wrapper lets the stylesheet keep option names on one line.
    lines = [
        '<div class="options-summary" markdown>',
        "",
        "| option | prompt | default | choices |",
        "|---|---|---|---|",
    ]
    for key, value in options(context).items():
        prompt, _ = prompt_of(context, key)
        choices = ", ".join(code(c) for c in value) if isinstance(value, list) else "free text"
        default = code(short(str(defaults[key]))) + (" (*computed*)" if is_computed(value) else "")
        lines.append(f"| [`{key}`](#{key}) | {cell(prompt)} | {default} | {choices} |")
    lines += ["", "</div>"]
    for key, value in options(context).items():
        entry = help_entries[key]
        prompt, labels = prompt_of(context, key)
        default = code(defaults[key]) + (" (*computed*)" if is_computed(value) else "")
        lines += ["", f"### `{key}` {{#{key}}}", "", f"Prompt: *{prompt}*. Default: {default}.", ""]
        lines.append(str(entry["help"]).strip())
        if isinstance(value, list):
            lines += ["", "| choice | prompt shows | choose it when |", "|---|---|---|"]
            for choice in value:
                label = labels.get(str(choice), str(choice))
                lines.append(f"| {code(choice)} | {cell(label)} | {cell(str(entry['choices'][str(choice)]))} |")
    return "\n".join(lines) + "\n"


def on_config(config):
    """Check the help file against cookiecutter.json before anything is built."""
    context, help_entries = load_inputs(config)
    problems = help_problems(context, help_entries)
    if problems:
        raise PluginError(f"docs/{HELP_FILE} does not match cookiecutter.json:\n  " + "\n  ".join(problems))
    return config


def on_page_markdown(markdown, page, config, files):
    """Insert the generated options into docs/options.md."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"docs/{PAGE} must contain the line {MARKER} where the options go")
    context, help_entries = load_inputs(config)
    return markdown.replace(MARKER, render(context, help_entries))


def on_serve(server, config, builder):
    """`mkdocs serve` rebuilds when cookiecutter.json changes, not only docs/."""
    server.watch(str(template_root(config) / "cookiecutter.json"))
    return server
