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
  demo data under a new expectation, and refusing damaged data.

Steps: bake with `cookiecutter --no-input` into a temporary folder, `dvc repro`,
render the plots, commit, run the sweep, then the change and the gate, then the
two validation examples. Nothing is downloaded. Needs the template's `test` environment plus vl-convert-python,
which renders Vega-Lite to PNG without a browser or network:

    pip install vl-convert-python
    python docs/figures/render.py            # about 5 minutes on two cores
    python docs/figures/render.py --keep DIR # also keep the baked project in DIR
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import os
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
SWEEP = "classifier.C=0.5,1,2,4"
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
EXP_COLUMNS = "Experiment|classifier.C|classification.macro_f1"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="copy the baked project here when done")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="docs-figures-") as tmp:
        project = bake(Path(tmp))
        log = run(["dvc", "repro"], project, project)
        write("repro.txt", stage_output(log))
        write("metrics.txt", run(["make", "-s", "metrics", f"PYTHON={sys.executable}"], project, project))
        render_plots(project, [], PLOTS)
        run(["git", "add", "-A"], project)
        run(["git", "commit", "-q", "-m", "First pipeline run"], project)

        # Experiments: a queued sweep, the comparison, and the best against main.
        run(["dvc", "exp", "run", "--queue", "-S", SWEEP], project, project)
        run(["dvc", "queue", "start", "-j", "2"], project, project)
        wait_for_queue(project)
        shown = run(
            ["dvc", "exp", "show", "--only-changed", "--no-pager", "--drop", ".*", "--keep", EXP_COLUMNS]
            + ["--sort-by", "classification.macro_f1", "--sort-order", "desc"],
            project,
            project,
        )
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
