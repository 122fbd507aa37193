"""The pages a user opens first, in a real headless browser with no network: the plots and the Data Docs.

Chromium (Debian's `chromium`; `make test` installs it when missing) runs inside `unshare --net`
where the machine allows it, and always with every host name unresolvable, so a page that needs
a CDN renders blank here. Each page must show what it is for (vega's charts, the list of runs),
look like something (a screenshot with many colours, GX's green and red status icons), and name
no remote asset. A missing browser fails the tests: it is never a reason to skip them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest
from conftest import NO_NETWORK, base_env, repro, run
from PIL import Image

pytestmark = pytest.mark.xdist_group("pages")

# src/href of the tags that load something, and CSS url(): nothing of it may point at another host.
ASSET_URL = re.compile(
    r"""<(?:link|script|img|source|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?(?P<url>[^"'\s>]+)""", re.IGNORECASE
)
CSS_URL = re.compile(r"""url\(\s*["']?(?P<url>[^"')\s]+)""", re.IGNORECASE)
# Bootstrap's success green and danger red: GX's status icons, drawn only when Font Awesome and
# bootstrap's CSS loaded.
GREEN, RED = (40, 167, 69), (220, 53, 69)
HOSTILE_LABEL = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def chromium() -> str:
    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    if found is None:
        pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium, as root)")
    return found


def page_requests(net_log: Path) -> list[str]:
    """URLs the page asked the network for, from Chromium's NetLog (the browser's own requests have no page origin)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job
        and event.get("params", {}).get("network_isolation_key", "null null") != "null null"
    ]


def open_page(chromium: str, page: Path, tmp_path: Path, *action: str, size: str = "1200,1400"):
    """Open `page` in headless Chromium with no network; `action` is --dump-dom or --screenshot=PATH.

    Returns Chromium's result, the URLs the page asked the network for, and the scripts' errors.
    """
    net_log = tmp_path / f"{page.stem}-{action[0].split('=')[0].strip('-')}.netlog.json"
    command = [
        *NO_NETWORK,
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--log-net-log={net_log}",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--window-size={size}",
        "--virtual-time-budget=10000",
        *action,
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, env=base_env(), capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"chromium exited {result.returncode}:\n{result.stderr[-3000:]}"
    errors = [line for line in result.stderr.splitlines() if ":CONSOLE" in line and "Uncaught" in line]
    return result, page_requests(net_log), errors


def browse(chromium: str, page: Path, tmp_path: Path, *action: str) -> subprocess.CompletedProcess:
    """`open_page`, failing when the page asked the network for anything (even in vain) or a script threw."""
    result, requests, errors = open_page(chromium, page, tmp_path, *action)
    assert requests == [], f"{page.name} asked the network for {requests}"
    assert not errors, f"a script on {page.name} failed:\n" + "\n".join(errors)
    return result


def test_the_browser_check_sees_a_page_that_needs_a_cdn(chromium, tmp_path):
    page = tmp_path / "cdn.html"
    page.write_text('<script src="https://cdn.jsdelivr.net/npm/vega@5"></script><script>vega.version</script>')

    _, requests, errors = open_page(chromium, page, tmp_path, "--dump-dom")

    assert requests == ["https://cdn.jsdelivr.net/npm/vega@5"]
    assert any("vega is not defined" in error for error in errors)


def screenshot(chromium: str, page: Path, tmp_path: Path) -> Image.Image:
    shot = tmp_path / f"{page.stem}.png"
    browse(chromium, page, tmp_path, f"--screenshot={shot}")
    return Image.open(BytesIO(shot.read_bytes())).convert("RGB")


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    return {colour for _, colour in image.getcolors(maxcolors=1 << 24)}


def near(colours_seen: set[tuple[int, int, int]], target: tuple[int, int, int], tolerance: int = 12) -> bool:
    return any(all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True)) for colour in colours_seen)


INLINE_SCRIPT = re.compile(r"(<script\b[^>]*>).*?(</script>)", re.IGNORECASE | re.DOTALL)


def local_assets(page: Path) -> list[str]:
    """Every asset URL the page (or stylesheet) names outside its scripts' code; fails on one at another host."""
    text = INLINE_SCRIPT.sub(r"\1\2", page.read_text(encoding="utf-8"))
    urls = [m["url"] for m in ASSET_URL.finditer(text)] + [m["url"] for m in CSS_URL.finditer(text)]
    remote = [url for url in urls if re.match(r"(?:https?:)?//", url)]
    assert not remote, f"{page} loads from another host: {remote}"
    return urls


def test_plots_page_draws_every_plot_offline(reproduced_copy, chromium, tmp_path):
    project = reproduced_copy
    run(["dvc", "plots", "show"], project)
    page = project / "dvc_plots/index.html"
    assert local_assets(page) == [], "the plots page is one self-contained file"

    dom = browse(chromium, page, tmp_path, "--dump-dom").stdout

    assert dom.count('class="marks"') == 5, (
        "vega-embed drew the confusion matrix, F1 per class, recall@k, accuracy per slice and abstention"
    )
    image = screenshot(chromium, page, tmp_path)
    assert len(colours(image)) > 100, "the plots page is blank"


def test_data_docs_are_styled_and_list_the_runs_offline(reproduced_copy, chromium, tmp_path):
    docs = reproduced_copy / "reports/validation"
    for stylesheet in docs.rglob("*.css"):
        local_assets(stylesheet)
    pages = sorted(docs.rglob("*.html"))
    for page in pages:
        # the copies `validate` put in place (GX's own favicon link is one folder off on run pages: not ours)
        for url in local_assets(page):
            if "static/vendor/" in url or "logo-long" in url:
                assert (page.parent / url).is_file(), f"{page.name} names a missing file: {url}"

    dom = browse(chromium, docs / "index.html", tmp_path, "--dump-dom").stdout

    runs = re.findall(r'href="(validations/[^"]+\.html)"', dom)
    assert {run.split("/")[1] for run in runs} == {"tickets", "kb", "queries"}, "the index lists the three runs"
    (tickets,) = [page for page in pages if page.name.endswith("-tickets.html") and "validations" in page.parts]
    seen = colours(screenshot(chromium, tickets, tmp_path))
    assert len(seen) > 100 and near(seen, GREEN), "the validation page is styled, with GX's status icons"


def test_data_values_are_escaped_in_the_data_docs(reproduced_copy, chromium, tmp_path):
    project = reproduced_copy
    tickets = pd.read_csv(project / "data/raw/tickets.csv", dtype=str, keep_default_na=False)
    tickets.loc[3, "label"] = HOSTILE_LABEL
    tickets.loc[4, "channel"] = '<img src="https://example.com/x.png" onerror="alert(2)">'
    tickets.to_csv(project / "data/raw/tickets.csv", index=False)

    result = repro(project, check=False)

    assert result.returncode != 0 and "validate: FAILED" in result.stdout + result.stderr
    (page,) = [p for p in (project / "reports/validation/validations/tickets").rglob("*.html")]
    text = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, "the label is shown, as text"
    assert "alert(1)</script>" not in text and '<img src="https://example.com' not in text
    local_assets(page)
    dom = browse(chromium, page, tmp_path, "--dump-dom").stdout
    assert "<script>alert(1)</script>" not in dom
    seen = colours(screenshot(chromium, page, tmp_path))
    assert near(seen, RED), "the failed expectations are marked in red"
