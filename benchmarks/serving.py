"""`make bench`, serving part: latency and throughput of the generated service over HTTP and in-process.

    python benchmarks/serving.py [--project DIR] [--requests N] [--seconds S] [--out DIR --doc FILE]

Bakes the default project and runs its pipeline (with --kb-articles N, a KB of N
articles; or uses --project, a project already reproduced), then, with the
current interpreter and PYTHONPATH=<project>/src:

1. in-process: `load_service` and the same calls the endpoints make
   (`Service.predict`, `Service.search`), one at a time, in a child process;
2. over HTTP: `python -m <package>.serve` on 127.0.0.1 with 1 and 2 workers; for
   each endpoint (/predict, /predict/batch with 32 texts, /search with k=5), a real
   HTTP client (http.client, one keep-alive connection per thread) sends requests
   with 1 and then 16 in flight, until --requests are answered or --seconds have passed;
3. the memory of the service (summed RSS of its process tree, from /proc) after the load.

Texts are the test split's tickets and queries are the golden queries, in turn.
Prints a table; with --out, writes serving.json and serving.png there (serving-100000.json and
serving-100000.png with --kb-articles 100000), and with --doc, the table between the
`serving:start` / `serving:end` markers of that file (`serving-100000:start` ...).
The client runs on the same two cores as the server, so HTTP figures include
its cost; throughput at 16 in flight is what the server sustains while sharing them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing, contextmanager
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402
    HIDDEN_MODULES,
    HOOK_DIR,
    NO_RETRIEVAL_FLOOR,
    bake_default,
    base_env,
    machine_info,
    run_checked,
    save_results,
    set_params,
    update_doc,
)

BATCH = 32
ENDPOINTS = ("predict", "predict_batch", "search")
PATHS = {"predict": "/predict", "predict_batch": "/predict/batch", "search": "/search"}
TARGETS = {
    "http_overhead_p50_ms": 2.0,
    "predict_rps_2_workers": 300.0,
    "search_rps_2_workers_at_100k": 150.0,
    "memory_mib": 1024.0,
}
LARGE_KB = 100_000  # the /search throughput target holds from this KB size

# Times the calls the endpoints make, in the project's own process; prints JSON latencies in ms.
IN_PROCESS = """
import json, sys, time
import pandas as pd
from {package}.runner import one_thread
from {package}.serve import load_service
one_thread()  # as the service does: one thread in every numerical library, those loaded later included
service = load_service("models/production", "data/index")
texts = pd.read_csv("data/split/test.csv")["text"].tolist()
queries = pd.read_csv("data/validated/queries.csv")["query"].tolist()
calls = {{
    "predict": lambda i: service.predict([texts[i % len(texts)]]),
    "predict_batch": lambda i: service.predict([texts[(i + j) % len(texts)] for j in range({batch})]),
    "search": lambda i: service.search(queries[i % len(queries)], 5),
}}
out = {{}}
for name, call in calls.items():
    call(0)  # warm-up
    timings, deadline = [], time.perf_counter() + {seconds}
    while len(timings) < {requests} and time.perf_counter() < deadline:
        start = time.perf_counter()
        call(len(timings))
        timings.append((time.perf_counter() - start) * 1000)
    out[name] = timings
print(json.dumps(out))
"""


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tree_rss_mib(pid: int) -> float:
    """Summed RSS of `pid` and its descendants (uvicorn's workers), in MiB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            status = (Path("/proc") / str(current) / "status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


@contextmanager
def service(project: Path, package: str, workers: int, env: dict[str, str], log: Path):
    port = free_port()
    command = [sys.executable, "-m", f"{package}.serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)], cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service was not ready in 120 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bodies(project: Path, endpoint: str) -> list[dict[str, Any]]:
    texts = pd.read_csv(project / "data/split/test.csv")["text"].tolist()
    queries = pd.read_csv(project / "data/validated/queries.csv")["query"].tolist()
    if endpoint == "predict":
        return [{"text": t} for t in texts]
    if endpoint == "predict_batch":
        return [{"texts": [texts[(i + j) % len(texts)] for j in range(BATCH)]} for i in range(len(texts))]
    return [{"query": q, "k": 5} for q in queries]


def load(url: str, path: str, payloads: list[dict], in_flight: int, requests: int, seconds: float) -> dict:
    """Send requests from `in_flight` threads, each on its own keep-alive connection (http.client, the
    lightest real client), until `requests` are answered or `seconds` pass."""
    host, port = url.removeprefix("http://").split(":")
    bodies = [json.dumps(body).encode() for body in payloads]
    headers = {"Content-Type": "application/json"}
    timings: list[float] = []
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[str] = []

    def worker(deadline: float) -> None:
        connection = HTTPConnection(host, int(port), timeout=30)
        try:
            while time.perf_counter() < deadline and (i := next(counter)) < requests:
                began = time.perf_counter()
                connection.request("POST", path, body=bodies[i % len(bodies)], headers=headers)
                answer = connection.getresponse()
                answer.read()
                elapsed = (time.perf_counter() - began) * 1000
                if answer.status != 200:
                    errors.append(f"{path}: {answer.status}")
                    return
                with lock:
                    timings.append(elapsed)
        finally:
            connection.close()

    worker(time.perf_counter() + 5)  # warm-up: first-call costs
    timings.clear()
    counter = itertools.count()
    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(start + seconds,)) for _ in range(in_flight)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(errors[0])
    return {**latency(timings), "rps": round(len(timings) / elapsed, 1)}


def latency(timings: list[float]) -> dict[str, Any]:
    ordered = sorted(timings)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 3)

    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 3), "p95_ms": pct(95), "p99_ms": pct(99)}


def bench(project: Path, package: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    # torch is hidden as in run.py: the default project does not depend on it, but skops imports it when present
    pythonpath = os.pathsep.join([str(HOOK_DIR), str(project / "src")])
    env = {**base_env(), "PYTHONPATH": pythonpath, "BENCH_HIDDEN_MODULES": HIDDEN_MODULES}
    code = IN_PROCESS.format(package=package, batch=BATCH, seconds=args.seconds, requests=args.requests)
    raw = json.loads(run_checked([sys.executable, "-c", code], project, env).strip().splitlines()[-1])
    in_process = {name: {**latency(t), "rps": round(1000 / statistics.mean(t), 1)} for name, t in raw.items()}
    http = []
    for workers in args.workers:
        with service(project, package, workers, env, work / f"serve-{workers}.log") as (url, process):
            memory = 0.0
            for endpoint in ENDPOINTS:
                payloads = bodies(project, endpoint)
                for in_flight in args.concurrency:
                    figures = load(url, PATHS[endpoint], payloads, in_flight, args.requests, args.seconds)
                    http.append({"endpoint": endpoint, "workers": workers, "in_flight": in_flight, **figures})
                    memory = max(memory, tree_rss_mib(process.pid))
            http.append({"endpoint": "memory", "workers": workers, "rss_mib": round(memory, 1)})
    kb_size = len(pd.read_csv(project / "data/validated/kb.csv", usecols=["id"]))
    return {"kb_articles": kb_size, "batch": BATCH, "in_process": in_process, "http": http}


def checks(results: dict[str, Any]) -> list[tuple[str, float, float, bool]]:
    """(target, measured, bound, passed) for each target this run can judge."""
    rows = []
    http = [r for r in results["http"] if r["endpoint"] != "memory"]
    single = {r["endpoint"]: r for r in http if r["workers"] == min(r["workers"] for r in http) and r["in_flight"] == 1}
    for endpoint in ("predict", "search"):
        if endpoint in single:
            added = round(single[endpoint]["p50_ms"] - results["in_process"][endpoint]["p50_ms"], 3)
            bound = TARGETS["http_overhead_p50_ms"]
            rows.append((f"HTTP adds at p50, /{endpoint}, 1 in flight (ms)", added, bound, added <= bound))
    best = [r["rps"] for r in http if r["endpoint"] == "predict" and r["workers"] == 2]
    if best:
        bound = TARGETS["predict_rps_2_workers"]
        rows.append(("/predict throughput, 2 workers (requests/s)", max(best), bound, max(best) >= bound))
    best = [r["rps"] for r in http if r["endpoint"] == "search" and r["workers"] == 2]
    if best and results["kb_articles"] >= LARGE_KB:
        bound = TARGETS["search_rps_2_workers_at_100k"]
        what = f"/search throughput at {results['kb_articles']} articles, 2 workers (requests/s)"
        rows.append((what, max(best), bound, max(best) >= bound))
    memory = max(r["rss_mib"] for r in results["http"] if r["endpoint"] == "memory")
    rows.append(("service memory, all workers (MiB)", memory, TARGETS["memory_mib"], memory <= TARGETS["memory_mib"]))
    return rows


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Default bake ({results['kb_articles']} KB articles), measured {results['measured_at']} on "
        f"{results['machine']['cpu']} ({results['machine']['usable_cores']} cores, load average at the end "
        f"{results['machine']['load_average_at_end']}). "
        f"/predict/batch sends {results['batch']} texts per request.",
        "",
        "| endpoint | how | workers | in flight | requests | p50 ms | p95 ms | p99 ms | requests/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        row = results["in_process"][endpoint]
        lines.append(
            f"| /{endpoint.replace('_', '/')} | in-process | - | 1 | {row['n']} | {row['p50_ms']} | {row['p95_ms']} "
            f"| {row['p99_ms']} | {row['rps']} |"
        )
        for row in (r for r in results["http"] if r["endpoint"] == endpoint):
            lines.append(
                f"| /{endpoint.replace('_', '/')} | HTTP | {row['workers']} | {row['in_flight']} | {row['n']} "
                f"| {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | {row['rps']} |"
            )
    memory = ", ".join(
        f"{r['rss_mib']} MiB ({r['workers']} workers)" for r in results["http"] if r["endpoint"] == "memory"
    )
    lines += ["", f"Service memory (summed RSS of the process tree after the load): {memory}.", ""]
    lines += ["| target | measured | bound | |", "|---|---:|---:|---|"]
    lines += [
        f"| {name} | {value} | {bound} | {'PASS' if ok else 'FAIL'} |" for name, value, bound, ok in results["checks"]
    ]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    http = [r for r in results["http"] if r["endpoint"] != "memory"]
    labels = [f"/{r['endpoint'].replace('_', '/')}  {r['workers']} w  {r['in_flight']} in flight" for r in http]
    rows = range(len(http))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    axes[0].barh(rows, [r["rps"] for r in http], color="#4c72b0")
    axes[0].set_title("Throughput over HTTP (requests/s)")
    axes[1].barh(rows, [r["p99_ms"] for r in http], color="#dd8452", label="p99")
    axes[1].barh(rows, [r["p50_ms"] for r in http], color="#4c72b0", label="p50")
    axes[1].set_xscale("log")
    axes[1].set_title("Latency over HTTP (ms, log scale; w = workers)")
    axes[1].legend()
    axes[0].set_yticks(rows, labels, fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="an already reproduced project (default: bake and reproduce)")
    parser.add_argument("--kb-articles", type=int, help="bake with a KB of this many generated articles")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement at most")
    parser.add_argument("--seconds", type=float, default=15, help="seconds per measurement at most")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="requests in flight")
    parser.add_argument("--out", type=Path, help="write serving.json and serving.png here")
    parser.add_argument("--doc", type=Path, help="write the table into this Markdown file, between its markers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        if args.project:
            project = args.project.resolve()
            (package,) = [p.name for p in (project / "src").iterdir() if (p / "serve.py").is_file()]
        else:
            project, package = bake_default(work, base_env())
            env = {**base_env(), "PYTHONPATH": str(project / "src")}
            if args.kb_articles:
                print(f"reproducing a project with {args.kb_articles} KB articles", flush=True)
                set_params(project, {"data.n_kb_articles": args.kb_articles, **NO_RETRIEVAL_FLOOR})
                run_checked([sys.executable, "-m", f"{package}.stages.sample_data"], project, env)
            run_checked(["dvc", "repro"], project, env)
        results = bench(project, package, args, work)
    results["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["machine"] = machine_info() | {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    results["checks"] = checks(results)
    table = markdown(results)
    print(table)
    name = "serving" if results["kb_articles"] < LARGE_KB else f"serving-{results['kb_articles']}"
    if args.out:
        save_results(results, args.out, name)
        plot(results, args.out / f"{name}.png")
    if args.doc:
        update_doc(args.doc, table, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
