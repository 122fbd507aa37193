"""Calibration of the drift check: false alarms on fresh batches, detection of every shift kind.

    python benchmarks/drift_calibration.py [--fresh 20] [--repeats 5] [--doc docs/drift.md] [--out DIR]

Bakes the default project, runs its pipeline, then checks generated batches
with the project's own code, at the thresholds params.yaml ships (`drift:`):

- `--fresh` batches from the training distribution (shift `none`; seeds
  1000, 1001, ...; 300 to 1,000 tickets, drawn with a fixed seed): each alarm
  is a false alarm. The target: at most one in 20.
- `--repeats` batches of each shift kind (`new_topic`, `label_mix`,
  `longer_texts`, `new_channel`, `foreign_text`; 300 tickets, the shipped
  `data.incoming.share`): each must be detected.

The reference (training vectors, test split predictions) is built once and
every batch is checked in one process, as the stage would check it. Prints a
table per check; `--doc` rewrites the table between the `calibration:start`
and `calibration:end` markers of that page; `--out` writes drift_calibration.json.
The template tests run a smaller version (tests/test_drift.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from run import save_results, update_doc

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
KINDS = ["new_topic", "label_mix", "longer_texts", "new_channel", "foreign_text"]

# Runs inside the generated project (PYTHONPATH=src): its own generator, reference and checks.
INSIDE = """
import json, sys
from {package}.encoders import Encoder
from {package}.io import read_csv
from {package}.models import load_model
from {package}.params import load_params
from {package}.stages.drift import build_reference, check_batch
from {package}.stages.sample_incoming import generate_incoming

plan = json.loads(sys.argv[1])
params = load_params()
settings, incoming, noise = params["drift"], params["data"]["incoming"], float(params["data"]["label_noise"])
classifier = load_model("models/production/classifier.skops")
encoder = Encoder("models/production/encoder")
train, test = read_csv("data/split/train.csv"), read_csv("data/split/test.csv")
reference = build_reference(train, test, classifier, encoder, settings)
results = []
for batch_plan in plan:
    batch = generate_incoming({{**incoming, **batch_plan}}, noise)
    metrics, _ = check_batch(batch, reference, classifier, encoder, settings)
    fired = sorted(name for name, check in metrics["checks"].items() if check["detected"])
    results.append({{**batch_plan, "detected": metrics["detected"], "fired": fired}})
print(json.dumps(results))
"""


def plan(fresh: int, repeats: int, seed: int = 0) -> list[dict[str, Any]]:
    """The batches to check: `fresh` in-distribution ones of 300-1,000 tickets, `repeats` of each shift kind."""
    import numpy as np

    sizes = np.random.default_rng(seed).integers(300, 1001, size=fresh).tolist()
    batches = [{"shift": "none", "seed": 1000 + i, "n_tickets": n} for i, n in enumerate(sizes)]
    batches += [{"shift": kind, "seed": 2000 + r, "n_tickets": 300} for kind in KINDS for r in range(repeats)]
    return batches


def check_batches(project: Path, batches: list[dict[str, Any]], env: dict[str, str]) -> list[dict[str, Any]]:
    """Check each planned batch with the project's own code (one process); one result per batch."""
    package = project.name.replace("-", "_")
    result = subprocess.run(
        [sys.executable, "-c", INSIDE.format(package=package), json.dumps(batches)],
        cwd=project,
        env={**env, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"calibration failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: per batch kind, how many batches raised an alarm, and which checks fired how often."""
    lines = ["| batches | tickets | alarms | checks that fired (batches) |", "|---|---:|---:|---|"]
    for kind in ["none", *KINDS]:
        rows = [r for r in results if r["shift"] == kind]
        if not rows:
            continue
        counts: dict[str, int] = {}
        for row in rows:
            for name in row["fired"]:
                counts[name] = counts.get(name, 0) + 1
        fired = ", ".join(f"`{name}` ({n})" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        sizes = sorted(r["n_tickets"] for r in rows)
        label = "fresh, in distribution (`none`)" if kind == "none" else f"`{kind}`"
        span = f"{sizes[0]}–{sizes[-1]}" if sizes[0] != sizes[-1] else str(sizes[0])
        alarms = sum(r["detected"] for r in rows)
        lines.append(f"| {len(rows)} {label} | {span} | {alarms} of {len(rows)} | {fired or '–'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--doc", type=Path, help="page whose calibration table to rewrite")
    parser.add_argument("--out", type=Path, help="folder for drift_calibration.json")
    args = parser.parse_args()

    sys.path.insert(0, str(TEMPLATE_DIR / "tests"))
    from conftest import bake, base_env, repro

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        project = bake(Path(work))
        repro(project)
        results = check_batches(project, plan(args.fresh, args.repeats), base_env())
    text = table(results)
    print(text)
    false_alarms = sum(r["detected"] for r in results if r["shift"] == "none")
    missed = [r for r in results if r["shift"] != "none" and not r["detected"]]
    print(f"\nfalse alarms: {false_alarms} (target: at most 1 in 20); shifted batches missed: {len(missed)}")
    print(f"took {time.perf_counter() - started:.0f} s")
    if args.doc:
        update_doc(args.doc, text + "\n", "calibration")
    if args.out:
        save_results(results, args.out, "drift_calibration")
    return 0 if false_alarms <= max(1, args.fresh // 20) and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
