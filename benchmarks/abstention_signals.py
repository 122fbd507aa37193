"""Abstention signals: which score of a query tells "the knowledge base has an answer" from "it has none"?

    python benchmarks/abstention_signals.py [--limit N] [--backends ...] [--out DIR] [--doc FILE]

Retrieval abstains when a query's confidence is below a threshold tuned on the
golden queries (`make tune-abstention`). The project's confidence is the top
hybrid score; this benchmark measures it against the other candidates of the
query-performance-prediction literature, each computed from the project's own
encoder and index (`build_encoder`, exact hybrid search), higher meaning
"answer":

- the top hybrid z-score (the rule the project ships), and its margin over
  ranks 2-10;
- the top dense cosine similarity; the top BM25 score, raw and divided by the
  query's attainable score (the sum of its words' idf, a word no article holds
  counting as a word of no document); the idf-weighted share of the query's
  words found in the top article;
- query clarity: the KL divergence of the top five articles' word
  distribution from the collection's (Cronen-Townsend et al., 2002);
- on the demo only, the in-domain signals the tickets allow (no out-of-scope
  text is shipped to train against): the cosine similarity to the nearest
  training ticket, and the ticket classifier's probability of the top
  article's label;
- a logistic regression over the six retrieval scores above, fitted where the
  threshold is tuned.

Two sets. The demo: the baked project's golden queries (`data/raw/queries.csv`,
the ones with an empty `kb_id` have no answer), the encoder fitted as the
`train_encoder` stage fits it (KB and training tickets). Docstrings (as
`retrieval_quality.py`): one document in five held out of the KB, so its query
has no answer. For each signal: the ROC AUC (the chance that an answerable
query scores above one without an answer: 0.5 is chance, 1 separates them
all), precision and recall of abstaining at the threshold
`retrieval.tune_abstention` picks on all queries (what `make tune-abstention`
does: a fit to the set it is measured on), and held out: tuned on one half of
the queries, measured on the other (the demo: 20 seeded stratified halves, both
ways, averaged; docstrings: even and odd queries, as `retrieval_quality.py`).
Writes abstention.json into --out and the table between
<!-- abstention:start/end --> of --doc. About 10 minutes on two cores with
sentence-transformers; `--limit 300 --backends tfidf-svd` is the suite's
smoke run.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from docstrings import docstring_pairs
from retrieval_quality import HELD_OUT_EVERY, arguments, baked_backends, project_modules
from run import save_results, update_doc
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SPLITS = 20  # seeded halves of the demo's queries
CLARITY_TOP = 5
RETRIEVAL_SIGNALS = ["top", "margin", "dense", "bm25", "bm25_attainable", "idf_share"]
LABELS = {
    "top": "top hybrid score (shipped)",
    "margin": "margin: top score minus mean of ranks 2-10",
    "dense": "top dense cosine",
    "bm25": "top BM25 score",
    "bm25_attainable": "top BM25 / the query's attainable BM25",
    "idf_share": "idf share of the query's words in the top article",
    "clarity": f"query clarity (top {CLARITY_TOP} articles)",
    "ticket": "cosine to the nearest training ticket",
    "label": "ticket classifier's probability of the top article's label",
    "logistic": "logistic regression over the six retrieval scores",
}


def retrieval_signals(
    modules: dict[str, Any], encoder, documents: list[str], queries: list[str], work: Path
) -> dict[str, Any]:
    """Every retrieval-side signal of each query against a KB of `documents`, and the ranked rows."""
    embedded = modules["embeddings"].embed_texts(encoder, documents, work / "cache")
    vectors, weights = embedded.vectors, embedded.terms
    index = modules["vector_index"].build_index("exact", [str(i) for i in range(len(documents))], vectors, {}, weights)
    query_vectors, query_terms = encoder.encode(queries), encoder.query_terms(queries)
    rows, scores = index.search_scored(query_vectors, 10, query_terms, encoder.dense_weight)
    lexical = encoder.lexical
    bm25 = (query_terms @ weights.T).tocsr()
    # the idf of each query's words, a word no article holds at the idf of a document frequency of 0
    unseen_idf = math.log1p((len(documents) + 0.5) / 0.5)
    stop_words = ENGLISH_STOP_WORDS if lexical.settings["stop_words"] else frozenset()
    analyze = modules["tokens"].analyze
    attainable, share = np.zeros(len(queries)), np.zeros(len(queries))
    for i, text in enumerate(queries):
        words = set(analyze(text, stop_words))
        known = query_terms.indices[query_terms.indptr[i] : query_terms.indptr[i + 1]]
        total = float(lexical.idf[known].sum()) + unseen_idf * (len(words) - len(known))
        in_top = np.isin(known, weights.indices[weights.indptr[rows[i, 0]] : weights.indptr[rows[i, 0] + 1]])
        attainable[i] = total
        share[i] = float(lexical.idf[known[in_top]].sum()) / total if total else 0.0
    top_bm25 = bm25.max(axis=1).toarray().ravel().astype(np.float64)
    return {
        "rows": rows,
        "vectors": vectors,
        "query_vectors": query_vectors,
        "signals": {
            "top": scores[:, 0].astype(np.float64),
            "margin": (scores[:, 0] - scores[:, 1:].mean(axis=1)).astype(np.float64),
            "dense": (query_vectors @ vectors.T).max(axis=1).astype(np.float64),
            "bm25": top_bm25,
            "bm25_attainable": np.divide(top_bm25, attainable, out=np.zeros_like(top_bm25), where=attainable > 0),
            "idf_share": share,
            "clarity": clarity(lexical.counts(documents), rows[:, :CLARITY_TOP]),
        },
    }


def clarity(counts, top_rows: np.ndarray) -> np.ndarray:
    """KL divergence (nats) of the top articles' word distribution from the collection's, per query.

    The query model is the mean of the top articles' word distributions, each
    smoothed with the collection's (Jelinek-Mercer, weight 0.5), so no word
    has probability 0.
    """
    counts = counts.tocsr()
    collection = (np.asarray(counts.sum(axis=0)).ravel() + 1) / (counts.sum() + counts.shape[1])
    lengths = np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1)
    out = np.zeros(len(top_rows))
    for i, rows in enumerate(top_rows):
        model = 0.5 * collection.copy()
        for row in rows:
            start, end = counts.indptr[row], counts.indptr[row + 1]
            model[counts.indices[start:end]] += 0.5 * counts.data[start:end] / lengths[row] / len(rows)
        out[i] = float(np.sum(model * np.log(model / collection)))
    return out


def measure(signal_for, answerable: np.ndarray, halves: list[np.ndarray], retrieval) -> dict[str, float]:
    """AUC and abstention tuned and measured on all queries, then tuned on each half and measured on the rest.

    `signal_for(mask)` is the signal of every query, learnt (when it learns) from the queries of `mask`.
    """
    everything = np.ones(len(answerable), dtype=bool)
    signal = signal_for(everything)
    threshold = retrieval.tune_abstention(signal, answerable)
    in_sample = retrieval.abstention_metrics(retrieval.answered(signal, threshold), answerable)
    held_out = []
    for half in halves:
        learnt = signal_for(half)
        tuned = retrieval.tune_abstention(learnt[half], answerable[half])
        held_out.append(retrieval.abstention_metrics(retrieval.answered(learnt[~half], tuned), answerable[~half]))
    return {
        "auc": round(float(roc_auc_score(answerable, signal)), 3),
        "threshold": threshold,
        "precision": round(in_sample["precision"], 3),
        "recall": round(in_sample["recall"], 3),
        "held_out_precision": round(float(np.mean([m["precision"] for m in held_out])), 3),
        "held_out_recall": round(float(np.mean([m["recall"] for m in held_out])), 3),
    }


def logistic(signals: dict[str, np.ndarray], answerable: np.ndarray, half: np.ndarray) -> np.ndarray:
    """P(answerable) from a logistic regression over the retrieval signals, fitted on the queries of `half`."""
    features = np.column_stack([signals[name] for name in RETRIEVAL_SIGNALS])
    model = make_pipeline(StandardScaler(), LogisticRegression(random_state=0)).fit(features[half], answerable[half])
    return model.predict_proba(features)[:, 1]


def measure_all(
    signals: dict[str, np.ndarray], answerable: np.ndarray, halves: list[np.ndarray], retrieval
) -> dict[str, dict[str, float]]:
    """`measure` for each signal, then for the logistic regression, refitted on each tuning half."""
    signals = {name: np.nan_to_num(x) for name, x in signals.items()}
    results = {name: measure(lambda _, x=x: x, answerable, halves, retrieval) for name, x in signals.items()}
    results["logistic"] = measure(lambda half: logistic(signals, answerable, half), answerable, halves, retrieval)
    return results


def stratified_halves(answerable: np.ndarray, splits: int) -> list[np.ndarray]:
    """`splits` seeded halves with half of each kind of query, each used both ways (tune on it, then on the rest)."""
    halves = []
    for seed in range(splits):
        rng = np.random.default_rng(seed)
        half = np.zeros(len(answerable), dtype=bool)
        for kind in (True, False):
            members = rng.permutation(np.flatnonzero(answerable == kind))
            half[members[: len(members) // 2]] = True
        halves += [half, ~half]
    return halves


def demo(project: Path, params: dict[str, Any], backend: str, modules: dict[str, Any], work: Path) -> dict[str, Any]:
    """The signals on the demo's golden queries, with the encoder and classifier the pipeline would fit."""
    raw = project / "data/raw"
    kb, queries = pd.read_csv(raw / "kb.csv"), pd.read_csv(raw / "queries.csv")
    train, _ = modules["split"].split_tickets(
        pd.read_csv(raw / "tickets.csv"), params["split"]["test_size"], params["split"]["seed"]
    )
    folder = work / f"demo-encoder-{backend}"
    documents = modules["text"].kb_documents(kb)
    modules["encoders"].build_encoder(backend, documents, params["encoder"], folder, train["text"].tolist())
    encoder = modules["encoders"].Encoder(folder)
    texts, answerable = queries["query"].tolist(), queries["kb_id"].notna().to_numpy()
    found = retrieval_signals(modules, encoder, documents, texts, work)
    signals = found["signals"]
    tickets = encoder.encode(train["text"].tolist())
    signals["ticket"] = (found["query_vectors"] @ tickets.T).max(axis=1).astype(np.float64)
    classifier = modules["train_classifier"].build_classifier(params["classifier"]).fit(train["text"], train["label"])
    probabilities = classifier.predict_proba(texts)
    top_labels = kb["label"].to_numpy()[found["rows"][:, 0]]
    column = {label: i for i, label in enumerate(classifier.classes_)}
    signals["label"] = probabilities[np.arange(len(texts)), [column[label] for label in top_labels]]
    first = [
        kb["id"].iloc[row[0]] == expected
        for row, expected, keep in zip(found["rows"], queries["kb_id"], answerable, strict=True)
        if keep
    ]
    return {
        "queries": len(texts),
        "no_answer": int((~answerable).sum()),
        "answerable_not_first": int(len(first) - np.sum(first)),
        "signals": measure_all(signals, answerable, stratified_halves(answerable, SPLITS), modules["retrieval"]),
    }


def docstrings(pairs, params: dict[str, Any], backend: str, modules: dict[str, Any], work: Path) -> dict[str, Any]:
    """The signals on docstrings, one document in `HELD_OUT_EVERY` held out of the KB."""
    queries, documents = [p.query for p in pairs], [p.document for p in pairs]
    kept = [i for i in range(len(documents)) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    folder = work / f"docstrings-encoder-{backend}"
    modules["encoders"].build_encoder(backend, [documents[i] for i in kept], params["encoder"], folder)
    encoder = modules["encoders"].Encoder(folder)
    found = retrieval_signals(modules, encoder, [documents[i] for i in kept], queries, work)
    answerable = np.arange(len(queries)) % HELD_OUT_EVERY != HELD_OUT_EVERY - 1
    even = np.arange(len(queries)) % 2 == 0
    # how close a held-out query's best document is, against an answerable query's own document
    own = np.einsum("ij,ij->i", found["query_vectors"][answerable], found["vectors"])
    signals = found["signals"]
    return {
        "queries": len(queries),
        "no_answer": int((~answerable).sum()),
        "median_best_cosine_no_answer": round(float(np.median(signals["dense"][~answerable])), 3),
        "median_own_cosine_answerable": round(float(np.median(own)), 3),
        "signals": measure_all(signals, answerable, [even], modules["retrieval"]),
    }


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "abstention.json", "abstention")
    results: dict[str, Any] = {}
    pairs = docstring_pairs()[: args.limit]
    with tempfile.TemporaryDirectory(prefix="abstention-signals-") as tmp:
        work = Path(tmp)
        for backend, project, params in baked_backends(work, args.backends):
            modules = project_modules(
                project, "embeddings", "encoders", "retrieval", "text", "tokens", "vector_index",
                "stages.split", "stages.train_classifier",
            )  # fmt: skip
            results[backend] = {
                "demo": demo(project, params, backend, modules, work),
                "docstrings": docstrings(pairs, params, backend, modules, work),
            }
    print(text_table(results))
    if args.out:
        save_results(results, args.out, "abstention")
    if args.doc:
        update_doc(args.doc, markdown(results) + "\n", "abstention")
    return 0


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per (backend, signal): AUC, tuned precision/recall and held-out precision/recall per set."""
    rows = []
    for backend, sets in results.items():
        for name, label in LABELS.items():
            cells = [backend, label]
            for found in sets.values():
                m = found["signals"].get(name)
                cells += (
                    [f"{m['auc']:.2f}", f"{m['precision']:.2f} / {m['recall']:.2f}"]
                    + [f"{m['held_out_precision']:.2f} / {m['held_out_recall']:.2f}"]
                    if m
                    else ["-", "-", "-"]
                )
            rows.append(cells)
    return rows


def markdown(results: dict[str, Any]) -> str:
    head = (
        "| encoder | signal | demo AUC | demo tuned P / R | demo held-out P / R "
        "| docstrings AUC | docstrings tuned P / R | docstrings held-out P / R |"
    )
    lines = [head, "|" + "---|" * 8]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(results)]
    for backend, sets in results.items():
        d, s = sets["demo"], sets["docstrings"]
        lines.append("")
        lines.append(
            f"`{backend}`: demo {d['queries']} golden queries, {d['no_answer']} without an answer; "
            f"{d['answerable_not_first']} of the {d['queries'] - d['no_answer']} answerable ones do not get their "
            f"article first. Docstrings: {s['queries']} queries, {s['no_answer']} of their documents held out; "
            f"median cosine of a held-out query to its best document {s['median_best_cosine_no_answer']:.2f}, "
            f"of an answerable query to its own {s['median_own_cosine_answerable']:.2f}."
        )
    return "\n".join(lines)


def text_table(results: dict[str, Any]) -> str:
    widths = [22, 58, 5, 11, 11, 5, 11, 11]
    header = ["encoder", "signal", "AUC", "tuned P/R", "held-out", "AUC", "tuned P/R", "held-out"]
    lines = ["\nAbstention signals: demo golden queries | docstrings, 1 in 5 documents held out"]
    for cells in [header, *table_rows(results)]:
        lines.append(" ".join(cell.replace(" / ", "/").ljust(width) for cell, width in zip(cells, widths, strict=True)))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
