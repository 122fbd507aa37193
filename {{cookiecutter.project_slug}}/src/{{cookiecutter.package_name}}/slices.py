"""Metrics per slice of the evaluation data: per channel, per customer tier, per query domain, per length.

One accuracy over all test tickets hides a change that helps email tickets and
breaks chat tickets. `evaluate` therefore also measures each slice: every value
of the ticket columns named in `evaluate.slices`, every value of the optional
`slice` column of the golden queries, and three length buckets of each (very
short, typical, very long, in words, from `evaluate.length_words`). The results
sit under `slices` in `metrics/evaluate/metrics.json`, each with its `support`
(the number of cases), so `dvc metrics diff`, `dvc exp show` and both gates see
them: `slices.tickets.channel.chat.accuracy`.

A slice of a few cases measures noise (docs: designing the evaluation set):
below `evaluate.min_support` cases its metrics are reported, never gated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from .retrieval import mean_reciprocal_rank, recall_at_k
from .runner import StageError

LENGTH = "length"  # the built-in dimension: word-count buckets
BUCKETS = ("very_short", "typical", "very_long")
QUERY_SLICE_COLUMN = "slice"
DIGITS = 6
# A slice value becomes one level of a metric name: "/" would nest it in dvclive, "." split it in dotted names.
NAME_BREAKERS = re.compile(r"[/.\s]+")


def slice_key(value: Any) -> str:
    """A slice value as one level of a metric name: separators become "_", an empty value "missing"."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    return NAME_BREAKERS.sub("_", str(value).strip()) or "missing"


def length_buckets(texts: Sequence[str], short: int, long: int) -> list[str]:
    """`very_short` below `short` words, `very_long` above `long` words, else `typical`."""
    counts = [len(str(text).split()) for text in texts]
    return [BUCKETS[0] if n < short else BUCKETS[2] if n > long else BUCKETS[1] for n in counts]


def check_columns(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Refuse, in one line, a slice column that `frame` does not have (or the reserved name)."""
    if LENGTH in columns:
        raise StageError(f"evaluate.slices: {LENGTH!r} is the built-in length buckets; name a column of {source}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise StageError(
            f"evaluate.slices names {', '.join(repr(c) for c in missing)}, not a column of {source} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )


def group_rows(keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Row positions of each slice value, values in sorted order."""
    keys = np.asarray(keys, dtype=object)
    return {value: np.flatnonzero(keys == value) for value in sorted(set(keys.tolist()))}


def ticket_slices(
    test: pd.DataFrame, predicted: Sequence[str], columns: Sequence[str], short: int, long: int
) -> dict[str, dict[str, dict[str, float | int]]]:
    """{dimension: {value: {accuracy, macro_f1, support}}} for each column and the length buckets.

    Macro-F1 averages the labels present in the slice (expected or predicted): a
    label a slice never has would otherwise count as an F1 of 0.
    """
    expected = test["label"].to_numpy(dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    dimensions = {slice_key(column): [slice_key(v) for v in test[column].tolist()] for column in columns}
    dimensions[LENGTH] = length_buckets(test["text"].tolist(), short, long)
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for dimension, keys in dimensions.items():
        out[dimension] = {}
        for value, rows in group_rows(keys).items():
            y_true, y_pred = expected[rows].tolist(), predicted[rows].tolist()
            out[dimension][value] = {
                "accuracy": round(float(accuracy_score(y_true, y_pred)), DIGITS),
                "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), DIGITS),
                "support": len(rows),
            }
    return out


def query_slices(
    queries: pd.DataFrame, ranked: Sequence[Sequence[str]], ks: Sequence[int], short: int, long: int
) -> dict[str, dict[str, dict[str, float | int]]]:
    """{dimension: {value: metrics}} for the golden queries' `slice` column (if any) and the length buckets.

    `support` counts every query of the slice. Recall@k and MRR are over its
    answerable queries (those with a `kb_id`) and are left out when it has none.
    """
    dimensions: dict[str, list[str]] = {}
    if QUERY_SLICE_COLUMN in queries.columns:
        dimensions[QUERY_SLICE_COLUMN] = [slice_key(v) for v in queries[QUERY_SLICE_COLUMN].tolist()]
    dimensions[LENGTH] = length_buckets(queries["query"].tolist(), short, long)
    expected = queries["kb_id"].tolist()
    answerable = queries["kb_id"].notna().to_numpy()
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for dimension, keys in dimensions.items():
        out[dimension] = {}
        for value, rows in group_rows(keys).items():
            metrics: dict[str, float | int] = {"support": len(rows)}
            found = [row for row in rows.tolist() if answerable[row]]
            if found:
                rows_ranked, targets = [ranked[r] for r in found], [expected[r] for r in found]
                for k in ks:
                    metrics[f"recall_at_{k}"] = round(recall_at_k(rows_ranked, targets, k), DIGITS)
                metrics["mrr"] = round(mean_reciprocal_rank(rows_ranked, targets), DIGITS)
            out[dimension][value] = metrics
    return out


def plot_rows(slices: dict[str, dict[str, dict[str, Any]]], metric: str) -> list[dict[str, Any]]:
    """One row per slice for a bar chart: `{"slice": "channel=chat", metric: value, "support": n}`."""
    return [
        {"slice": f"{dimension}={value}", metric: scores[metric], "support": scores["support"]}
        for dimension, values in slices.items()
        for value, scores in values.items()
        if metric in scores
    ]
