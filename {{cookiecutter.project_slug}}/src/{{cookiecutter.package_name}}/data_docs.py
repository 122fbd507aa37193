"""Great Expectations' Data Docs, safe and offline.

Two things GX does not do, done here:

- **Escape data values.** GX escapes the values it puts into its sentence templates, but a
  table cell or list item that is plain text (an unexpected value, say) goes into the page as
  raw HTML: a ticket labelled `<script>...</script>` would run in the page CI uploads.
  `EscapingPageView` is GX's page view with those plain strings escaped; `validate` names it in
  the Data Docs site's config.
- **Load nothing from the network.** GX's pages load bootstrap, jQuery, bootstrap-table, Font
  Awesome and its logo from CDNs, so offline they render unstyled and the index lists no runs.
  `make_offline` copies the copies shipped in `vendor/` (see `vendor/manifest.json`) next to
  the pages and points the pages at them; any other remote asset (GX's dark-mode CSS and logo,
  the vega libraries, which only charts of expectations the shipped suites do not use need) is
  dropped.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from great_expectations.render.view import DefaultJinjaPageView
from jinja2 import pass_context

VENDOR = Path(__file__).resolve().parent / "vendor"
# <link>, <script>, <img> and <source> tags, and the remote URL in one of their src/href attributes.
ASSET_TAG = re.compile(r"<(?P<name>link|script|img|source)\b[^>]*>(?:\s*</script>)?", re.IGNORECASE)
REMOTE_URL = re.compile(r"""\b(?P<attr>src|href)\s*=\s*(?P<quote>["'])(?P<url>https?://[^"']*)(?P=quote)""")
# A remote image in CSS: GX's dark-mode logo, in the pages' <style> and in its own stylesheet.
REMOTE_CSS_URL = re.compile(r"""url\(\s*["']?https?://[^"')]*["']?\s*\)""", re.IGNORECASE)
INTEGRITY = re.compile(r"""\s(?:integrity|crossorigin)(?:\s*=\s*(?:"[^"]*"|'[^']*'))?""", re.IGNORECASE)
# GX's logo, which the pages load from GX's website; the same image is in the Data Docs' static/images/.
GX_LOGO = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png"


def _is_component(block: Any) -> bool:
    return not isinstance(block, str) and (hasattr(block, "to_json_dict") or isinstance(block, dict))


class EscapingPageView(DefaultJinjaPageView):
    """GX's page view, with every plain-text content block (data values) HTML-escaped."""

    @pass_context
    def render_content_block(
        self,
        jinja_context: Any,
        content_block: Any,
        index: Any = None,
        content_block_id: Any = None,
        render_to_markdown: bool = False,
    ) -> Any:
        if not render_to_markdown:
            if isinstance(content_block, str):
                content_block = html.escape(content_block)
            elif isinstance(content_block, list):
                content_block = [b if _is_component(b) else html.escape(str(b)) for b in content_block]
        return super().render_content_block(jinja_context, content_block, index, content_block_id, render_to_markdown)


def page_view_config() -> dict[str, Any]:
    """The `site_section_builders` entry of a Data Docs site that renders with `EscapingPageView`."""
    view = {"module_name": __name__, "class_name": EscapingPageView.__name__}
    return {section: {"view": view} for section in ("expectations", "validations", "profiling")}


def _local_asset(tag: str, prefix: str, assets: dict[str, str]) -> str:
    """`tag` pointing at its vendored copy (under `prefix`), or "" to drop a tag that would load a remote asset."""
    match = REMOTE_URL.search(tag)
    if match is None:
        return tag
    url = match["url"]
    if url.startswith(GX_LOGO):
        local = prefix + "static/images/logo-long.png"
    elif url in assets:
        local = prefix + "static/vendor/" + assets[url]
    else:
        return ""
    tag = tag[: match.start("url")] + html.escape(local) + tag[match.end("url") :]
    return INTEGRITY.sub("", tag)  # the copy is the same file, but a check is for files fetched from elsewhere


def local_page(text: str, prefix: str, assets: dict[str, str]) -> str:
    """A page's text with every asset tag pointing at the vendored copies (`prefix`: the way up to the docs' root)."""
    text = ASSET_TAG.sub(lambda match: _local_asset(match.group(0), prefix, assets), text)
    return REMOTE_CSS_URL.sub("none", text)


def make_offline(docs_dir: str | os.PathLike) -> list[Path]:
    """Copy the vendored assets into `docs_dir`/static/vendor and point every page at them.

    Returns the pages rewritten. Links (`<a href>`) to GX's website stay: they load nothing
    until clicked.
    """
    docs = Path(docs_dir)
    manifest = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))
    assets: dict[str, str] = manifest["data_docs"]
    for folder in sorted({path.split("/", 1)[0] for path in assets.values()}):
        shutil.copytree(VENDOR / folder, docs / "static" / "vendor" / folder, dirs_exist_ok=True)
    for stylesheet in sorted((docs / "static" / "styles").glob("*.css")):
        css = stylesheet.read_text(encoding="utf-8")
        if REMOTE_CSS_URL.search(css):
            stylesheet.write_text(REMOTE_CSS_URL.sub("none", css), encoding="utf-8")
    pages = sorted(docs.rglob("*.html"))
    for page in pages:
        prefix = "../" * (len(page.relative_to(docs).parts) - 1)
        text = page.read_text(encoding="utf-8")
        rewritten = local_page(text, prefix, assets)
        if rewritten != text:
            page.write_text(rewritten, encoding="utf-8")
    return pages
