"""`make bench`, training out of core: `classifier.kind: sgd_streaming` up to 10 M tickets against `logistic` at 1 M.

    python benchmarks/streaming.py [--size tiny|full] [--data DIR] [--out DIR --doc FILE]

Bakes the default project, then, with the current interpreter and
PYTHONPATH=<project>/src (torch hidden as in run.py):

1. generates training splits with the project's own ticket generator
   (`sample_data.generate_tickets`), one seeded block at a time appended to the
   file, so the benchmark itself never holds the large set: the smaller splits
   are the first rows of the largest. A test set comes from another seed;
2. runs the `train_classifier` stage's command on each split as
   `data/split/train.csv` (a symlink): `sgd_streaming` at every size,
   `logistic` at the comparison size (1 M) only, since it reads the whole split
   into memory. Wall time around it; CPU and peak RSS from `os.wait4` of the
   stage's process alone (own_rss.py: a peak inherited from this process would
   hide it);
3. loads each model with the project's loader and measures accuracy and
   macro-F1 on the test set.

`sgd_streaming` runs with one epoch (params.yaml ships 3, for the 1,600-ticket
demo split); everything else is as shipped (at `--size tiny`, 500-ticket chunks,
so that the splits span several). Prints a table and two checks:
the peak RSS of `sgd_streaming` may grow by at most `MAX_RSS_GROWTH_MIB`
from the smallest to the largest split, and its macro-F1 at the comparison
size may be at most `MAX_F1_GAP` below `logistic`'s. With --out, writes
streaming.json there; with --doc, the table between the `streaming:start` /
`streaming:end` markers of that file. `--size tiny` runs the same at toy sizes
(the test suite does); its figures say nothing about the checks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402
    HIDDEN_MODULES,
    HOOK_DIR,
    bake_default,
    base_env,
    machine_info,
    measure,
    save_results,
    set_params,
    update_doc,
)

OWN_RSS = Path(__file__).resolve().parent / "own_rss.py"
SEED = 2024  # of the generated tickets; the test set uses SEED + 1
MAX_RSS_GROWTH_MIB = 64.0
MAX_F1_GAP = 0.01


@dataclass(frozen=True)
class Size:
    streaming: tuple[int, ...]  # training tickets for sgd_streaming; the largest is generated, the others are its head
    compare: int  # both kinds, and the quality comparison
    test: int
    block: int  # tickets generated at a time
    chunk_size: int | None = None  # sgd_streaming's chunk_size; None: as shipped


SIZES = {
    "tiny": Size(streaming=(2_000, 20_000), compare=2_000, test=1_000, block=5_000, chunk_size=500),
    "full": Size(streaming=(100_000, 1_000_000, 10_000_000), compare=1_000_000, test=100_000, block=1_000_000),
}


def generate(project: Path, path: Path, n: int, seed: int, block: int) -> None:
    """Write `n` generated tickets (id, text, label) to `path`, `block` at a time, each block seeded (seed, i)."""
    sys.path.insert(0, str(project / "src"))
    from support_triage.stages.sample_data import generate_tickets  # noqa: PLC0415

    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        for i, start in enumerate(range(0, n, block)):
            count = min(block, n - start)
            tickets = generate_tickets(count, 0.04, "2024-01-01", "2024-12-31", np.random.default_rng([seed, i]))
            tickets["id"] = [f"T{start + j + 1:09d}" for j in range(count)]
            tickets[["id", "text", "label"]].to_csv(out, index=False, header=i == 0, lineterminator="\n")
    tmp.replace(path)


def head(source: Path, path: Path, n: int) -> None:
    """The header and first `n` tickets of `source` (one ticket per line: generated texts have no newline)."""
    with open(source, encoding="utf-8") as lines, open(path, "w", encoding="utf-8") as out:
        for _ in range(n + 1):
            out.write(next(lines))


def data_files(project: Path, data: Path, size: Size) -> dict[str, Path]:
    """The training splits by size and the test set, generated unless `data` already holds them."""
    data.mkdir(parents=True, exist_ok=True)
    largest = max(size.streaming)
    files = {str(n): data / f"train-{n}-seed{SEED}.csv" for n in sorted({*size.streaming, size.compare})}
    files["test"] = data / f"test-{size.test}-seed{SEED + 1}.csv"
    if not files[str(largest)].exists():
        print(f"generating {largest} tickets", flush=True)
        generate(project, files[str(largest)], largest, SEED, size.block)
    for n in {*size.streaming, size.compare} - {largest}:
        if not files[str(n)].exists():
            head(files[str(largest)], files[str(n)], n)
    if not files["test"].exists():
        generate(project, files["test"], size.test, SEED + 1, size.block)
    return files


def quality(project: Path, model: Path, test_file: Path) -> dict[str, float]:
    """Accuracy and macro-F1 of the saved model on the test set, loaded as evaluate loads it."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score

    sys.path.insert(0, str(project / "src"))
    from support_triage.models import load_model  # noqa: PLC0415

    test = pd.read_csv(test_file, dtype=str, keep_default_na=False)
    predicted = load_model(model).predict(test["text"])
    return {
        "accuracy": round(float(accuracy_score(test["label"], predicted)), 4),
        "macro_f1": round(float(f1_score(test["label"], predicted, average="macro")), 4),
    }


def train(project: Path, kind: str, n: int, train_file: Path, test_file: Path, logs: Path) -> dict[str, Any]:
    """Run the train_classifier stage of `kind` on `train_file`: its cost, its model's size and quality."""
    split = project / "data" / "split"
    shutil.rmtree(split, ignore_errors=True)
    split.mkdir(parents=True)
    (split / "train.csv").symlink_to(train_file)
    set_params(project, {"classifier.kind": kind})
    env = {**base_env(), "PYTHONPATH": os.pathsep.join([str(HOOK_DIR), str(project / "src")])}
    env["BENCH_HIDDEN_MODULES"] = HIDDEN_MODULES
    print(f"training {kind} on {n} tickets", flush=True)
    own = logs / f"{kind}-{n}.json"  # peak RSS and CPU of the stage's process alone (see own_rss.py)
    cmd = [sys.executable, str(OWN_RSS), str(own), "--", sys.executable, "-m", "support_triage.stages.train_classifier"]
    result = measure(cmd, project, env, logs / f"{kind}-{n}.log")
    if result["exit_code"] != 0:
        raise RuntimeError(f"{kind} on {n} tickets exited {result['exit_code']}:\n{result.get('error')}")
    model = project / "models" / "candidate" / "classifier.skops"
    row = {"kind": kind, "tickets": n, "wall_s": result["wall_s"], **json.loads(own.read_text(encoding="utf-8"))}
    del row["exit_code"]
    row["tickets_per_s"] = round(n / result["wall_s"])
    row["model_mib"] = round(model.stat().st_size / 2**20, 1)
    row |= quality(project, model, test_file)
    print(json.dumps(row), flush=True)  # each figure as soon as it is measured: the full run is long
    return row


def checks(rows: list[dict[str, Any]], size: Size) -> list[dict[str, Any]]:
    streaming = {row["tickets"]: row for row in rows if row["kind"] == "sgd_streaming"}
    logistic = next(row for row in rows if row["kind"] == "logistic")
    smallest, largest = streaming[min(streaming)], streaming[max(streaming)]
    growth = round(largest["max_rss_mib"] - smallest["max_rss_mib"], 1)
    gap = round(logistic["macro_f1"] - streaming[size.compare]["macro_f1"], 4)
    return [
        {
            "check": f"sgd_streaming peak RSS growth, {smallest['tickets']} -> {largest['tickets']} tickets",
            "value": growth,
            "limit": MAX_RSS_GROWTH_MIB,
            "unit": "MiB",
            "passed": growth <= MAX_RSS_GROWTH_MIB,
        },
        {
            "check": f"macro-F1 of logistic minus sgd_streaming at {size.compare} tickets",
            "value": gap,
            "limit": MAX_F1_GAP,
            "unit": "",
            "passed": gap <= MAX_F1_GAP,
        },
    ]


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Measured {results['measured_at']} on {results['machine']['cores']} cores "
        f"({results['machine']['cpu']}); `sgd_streaming` with 1 epoch of "
        f"{results['chunk_size']}-ticket chunks, test set of {results['test_tickets']} tickets.",
        "",
        "| kind | training tickets | wall s | CPU s | peak RSS MiB | tickets/s | model MiB | accuracy | macro-F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['kind']} | {row['tickets']:,} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} "
            f"| {row['max_rss_mib']:.0f} | {row['tickets_per_s']:,} | {row['model_mib']} "
            f"| {row['accuracy']:.4f} | {row['macro_f1']:.4f} |"
        )
    lines += ["", "| check | value | limit | verdict |", "| --- | ---: | ---: | --- |"]
    for check in results["checks"]:
        verdict = "PASS" if check["passed"] else "FAIL"
        value = f"{check['value']} {check['unit']}".rstrip()
        lines.append(f"| {check['check']} | {value} | {check['limit']} | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--data", type=Path, help="keep the generated tickets here and reuse them (default: temporary)")
    parser.add_argument("--out", type=Path, help="write streaming.json here")
    parser.add_argument("--doc", type=Path, help="write the table into this Markdown file, between its markers")
    args = parser.parse_args()
    size = SIZES[args.size]
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        work = Path(tmp)
        project, package = bake_default(work, base_env())
        assert package == "support_triage", package  # the generator and loader are imported by that name
        set_params(project, {"classifier.sgd_streaming.epochs": 1})
        if size.chunk_size:
            set_params(project, {"classifier.sgd_streaming.chunk_size": size.chunk_size})
        files = data_files(project, (args.data or work / "data").resolve(), size)
        logs = work / "logs"
        logs.mkdir()
        rows = [train(project, "logistic", size.compare, files[str(size.compare)], files["test"], logs)]
        for n in size.streaming:
            rows.append(train(project, "sgd_streaming", n, files[str(n)], files["test"], logs))
        shipped = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
        chunk_size = shipped["classifier"]["sgd_streaming"]["chunk_size"]
    results = {
        "size": args.size,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info() | {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "chunk_size": chunk_size,
        "test_tickets": size.test,
        "rows": rows,
        "checks": checks(rows, size),
    }
    table = markdown(results)
    print(table)
    if args.out:
        save_results(results, args.out, "streaming")
    if args.doc:
        update_doc(args.doc, table, "streaming")
    return 0


if __name__ == "__main__":
    sys.exit(main())
