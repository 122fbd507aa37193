"""`make bench`, rollout part: what canary and shadow modes cost production's answers.

    python benchmarks/rollout.py [--project DIR] [--requests N] [--seconds S] [--out DIR --doc FILE]

Bakes the default project and runs its pipeline (or uses --project, a project
already reproduced), copies its model set as the candidate, then serves it on
127.0.0.1 with one worker in three modes: `off` (production alone), `canary` (50 %
to the candidate) and `shadow` (every request also runs on the candidate, on the
service's one shadow thread), the last two writing a decision log. For each mode,
/predict is loaded with 1 and 8 requests in flight (benchmarks/serving.py's
client). Shadow calls beyond SHADOW_MAX_PENDING are skipped by design; the share
skipped is reported, read from the decision log.

Target: shadow mode adds at most 25 % to production's p95 at 8 in flight, and at
most 2 ms at p50 with one request in flight (the candidate runs after the answer).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402
    HIDDEN_MODULES,
    HOOK_DIR,
    bake_default,
    base_env,
    machine_info,
    run_checked,
    save_results,
    update_doc,
)
from serving import bodies, load, service  # noqa: E402

MODES = {"off": {}, "canary": {"ROLLOUT_MODE": "canary", "CANARY_PERCENT": "50"}, "shadow": {"ROLLOUT_MODE": "shadow"}}
TARGETS = {"shadow_p95_ratio_8_in_flight": 1.25, "shadow_p50_added_ms_1_in_flight": 2.0}


def bench(project: Path, package: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    candidate = work / "candidate"
    shutil.copytree(project / "models/production", candidate)
    shutil.copytree(project / "data/index", candidate / "index")
    pythonpath = os.pathsep.join([str(HOOK_DIR), str(project / "src")])
    env = {**base_env(), "PYTHONPATH": pythonpath, "BENCH_HIDDEN_MODULES": HIDDEN_MODULES}
    payloads = bodies(project, "predict")
    rows = []
    for mode, settings in MODES.items():
        log = work / f"decisions-{mode}.jsonl"
        extra = {"CANDIDATE_DIR": str(candidate), "DECISION_LOG": str(log)} if settings else {}
        with service(project, package, 1, {**env, **settings, **extra}, work / f"serve-{mode}.log") as (url, _):
            for in_flight in args.concurrency:
                figures = load(url, "/predict", payloads, in_flight, args.requests, args.seconds)
                rows.append({"mode": mode, "in_flight": in_flight, **figures})
        if log.exists():  # the service has stopped: every line is written
            records = [json.loads(line) for line in log.read_text().splitlines()]
            skipped = sum(1 for r in records if (r.get("candidate") or {}).get("skipped"))
            rows.append({"mode": mode, "log_lines": len(records), "shadow_skipped": skipped})
    return {"rows": rows}


def checks(results: dict[str, Any]) -> list[tuple[str, float, float, bool]]:
    figures = {(r["mode"], r["in_flight"]): r for r in results["rows"] if "in_flight" in r}
    rows = []
    busy = max(n for _, n in figures)
    if ("off", busy) in figures and ("shadow", busy) in figures:
        ratio = round(figures["shadow", busy]["p95_ms"] / figures["off", busy]["p95_ms"], 3)
        bound = TARGETS["shadow_p95_ratio_8_in_flight"]
        rows.append((f"shadow p95 / off p95, /predict, {busy} in flight", ratio, bound, ratio <= bound))
    if ("off", 1) in figures and ("shadow", 1) in figures:
        added = round(figures["shadow", 1]["p50_ms"] - figures["off", 1]["p50_ms"], 3)
        bound = TARGETS["shadow_p50_added_ms_1_in_flight"]
        rows.append(("shadow adds at p50, /predict, 1 in flight (ms)", added, bound, added <= bound))
    return rows


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Default bake, one worker, measured {results['measured_at']} on {results['machine']['cpu']} "
        f"({results['machine']['usable_cores']} cores); the candidate is a copy of production.",
        "",
        "| mode | in flight | requests | p50 ms | p95 ms | p99 ms | requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in (r for r in results["rows"] if "in_flight" in r):
        lines.append(
            f"| {row['mode']} | {row['in_flight']} | {row['n']} | {row['p50_ms']} | {row['p95_ms']} "
            f"| {row['p99_ms']} | {row['rps']} |"
        )
    logs = [r for r in results["rows"] if "log_lines" in r]
    lines += [""] + [
        f"Decision log, {r['mode']}: {r['log_lines']} lines, {r['shadow_skipped']} shadow calls skipped (queue full)."
        for r in logs
    ]
    lines += ["", "| target | measured | bound | |", "|---|---:|---:|---|"]
    lines += [f"| {n} | {v} | {b} | {'PASS' if ok else 'FAIL'} |" for n, v, b, ok in results["checks"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="an already reproduced project (default: bake and reproduce)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement at most")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per measurement at most")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8], help="requests in flight")
    parser.add_argument("--out", type=Path, help="write rollout.json here")
    parser.add_argument("--doc", type=Path, help="write the table into this Markdown file, between its markers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        work = Path(tmp)
        if args.project:
            project = args.project.resolve()
            (package,) = [p.name for p in (project / "src").iterdir() if (p / "traffic.py").is_file()]
        else:
            project, package = bake_default(work, base_env())
            run_checked(["dvc", "repro"], project, {**base_env(), "PYTHONPATH": str(project / "src")})
        results = bench(project, package, args, work)
    results["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["machine"] = machine_info()
    results["checks"] = checks(results)
    print(markdown(results))
    if args.out:
        save_results(results, args.out, "rollout")
    if args.doc:
        update_doc(args.doc, markdown(results), "rollout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
