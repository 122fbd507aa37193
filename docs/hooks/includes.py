"""MkDocs hook: put real outputs of the generated project into the pages.

docs/figures/render.py runs the default project and saves what it printed or
wrote under docs/figures/. A page asks for one of those files with a line

    <!-- output: figures/exp-show.txt -->       the file as a text block (indent the
                                                  line to put it in a list item)
    <!-- gate-report: figures/gate-report.md --> the gate's Markdown report, rendered
                                                  as a pull request shows it, and its source

so rerunning the script updates the pages. The report is rendered with a
CommonMark parser (markdown-it-py), as GitHub and GitLab render it, and inserted
as HTML, so its own headings stay out of the page's table of contents.
"""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt
from mkdocs.exceptions import PluginError

INCLUDE = re.compile(r"^( *)<!-- (output|gate-report): (\S+) -->$", re.MULTILINE)


def read(config, page, relative: str) -> str:
    path = Path(config.docs_dir) / relative
    if not path.is_file():
        raise PluginError(
            f"docs/{page.file.src_uri} includes docs/{relative}, which does not exist: "
            "run `python docs/figures/render.py`"
        )
    return path.read_text(encoding="utf-8").rstrip("\n")


def fenced(text: str, language: str, indent: str = "") -> str:
    """A fenced code block longer than any backtick run inside `text`."""
    fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`+", text))])
    body = "\n".join(f"{indent}{line}" if line else "" for line in text.splitlines())
    return f"{indent}{fence}{language}\n{body}\n{indent}{fence}"


def gate_report(text: str) -> str:
    """The report as HTML in a frame, then its Markdown source, folded."""
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    source = fenced(text, "markdown", indent="    ")
    return f'<div class="gate-report">\n{html}</div>\n\n??? note "Markdown source of this report"\n\n{source}\n'


def on_page_markdown(markdown, page, config, files):
    def replace(match: re.Match) -> str:
        indent, kind, relative = match.groups()  # an indented marker sits in a list item
        text = read(config, page, relative)
        return gate_report(text) if kind == "gate-report" else fenced(text, "text", indent)

    return INCLUDE.sub(replace, markdown)
