"""Stage `drift`: does the incoming batch still look like what the production models learned from?

The batch is `data/incoming/tickets.csv` (the tickets contract: id, text,
created_at, channel; `label` optional). Nothing in the pipeline writes it: it is
dropped in by a user or an export, so DVC never restores an older copy over it.

Each check compares the batch with the training split, or with the test split
as the production models see it (held-out tickets, like the batch), and reports
its statistic, its p-value or score, its threshold (`drift:` in params.yaml)
and its verdict:

- `text_length`: length of the texts against the training tickets (KS test);
- `out_of_vocabulary`: share of words the classifier's TF-IDF vocabulary does
  not know (with `classifier.kind: sgd_streaming`, whose hashed column no
  training ticket had), against the test split's share plus `oov.max_increase`;
- `far_from_training`: share of tickets whose most similar training ticket (cosine
  in the production encoder's space) is below a cutoff, the `far.quantile` of
  the same similarity for test tickets; a binomial test against that quantile;
- `predicted_labels`: the classifier's predicted labels against its predictions
  on the test split (chi-square test; PSI reported);
- `confidence`: the classifier's top-class probability against the test split (KS test);
- `categorical.<column>`: each column of `categorical.columns` against the training
  tickets (chi-square test), values never seen in training counted;
- with labels: `accuracy` and `macro_f1` against the test split's (drop beyond
  `performance.max_drop`), and `label_mix` against the training tickets (chi-square).

The tests share one significance level, `alpha`, small because a batch runs
about ten of them: on fresh batches from the training distribution the stage
must stay quiet (docs: "Drift and retraining" has the calibration table).

Writes `metrics/drift.json` (top-level `detected`, one entry per check) and an
offline HTML report, `reports/drift/index.html`, plus its Markdown summary
`reports/drift/summary.md` (a pull request's description). Drift is a finding,
not a failure: the stage exits 0 either way; `make drift` exits 1 when drift is
detected. A batch that cannot be checked (missing, unreadable, empty, columns
missing) stops the stage with one line naming the file.
"""

from __future__ import annotations

import argparse
import html
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.metrics import accuracy_score, f1_score

from ..encoders import Encoder
from ..io import read_csv, read_json, write_json, write_text
from ..models import load_model
from ..params import load_params
from ..runner import StageError, run_stage

BATCH_FILE = Path("data/incoming/tickets.csv")
TRAIN_FILE = Path("data/split/train.csv")
TEST_FILE = Path("data/split/test.csv")
CLASSIFIER_FILE = Path("models/production/classifier.skops")
ENCODER_DIR = Path("models/production/encoder")
METRICS_FILE = Path("metrics/drift.json")
REPORT_DIR = Path("reports/drift")
REQUIRED_COLUMNS = ("id", "text", "created_at", "channel")
DIGITS = 6  # significant digits in drift.json: stable bytes, readable numbers
PSI_FLOOR = 1e-4
REPORT_ONLY = {
    "method",
    "against",
    "batch_share",
    "reference_share",
}  # kept out of drift.json  # share given to a category absent on one side, so PSI stays finite


@dataclass
class Reference:
    """What a batch is compared with, computed once from the training and test splits and the production models."""

    train: pd.DataFrame
    test: pd.DataFrame
    classes: list[str]
    vocabulary: set[str] | HashedVocabulary
    tokenize: Any
    train_vectors: np.ndarray
    test_nearest: np.ndarray
    test_predicted: np.ndarray
    test_confidence: np.ndarray
    test_oov_rate: float
    test_accuracy: float
    test_macro_f1: float


def rounded(value: float) -> float:
    """`value` to `DIGITS` significant digits (p-values span many orders of magnitude)."""
    return float(f"{float(value):.{DIGITS}g}")


def read_batch(path: Path) -> pd.DataFrame:
    """The batch at `path`, or a StageError in one line naming the file and what is wrong."""
    if not path.is_file():
        raise StageError(f"{path}: file not found; put the batch of tickets to check there")
    if path.stat().st_size == 0:
        raise StageError(f"{path}: the file is empty; it needs a header and at least one ticket")
    try:
        batch = read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise StageError(f"{path}: not a readable UTF-8 CSV file ({reason})") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in batch.columns]
    if missing:
        found = ", ".join(map(str, batch.columns))
        raise StageError(f"{path}: missing column(s) {', '.join(missing)} (found: {found})")
    if batch.empty:
        raise StageError(f"{path}: no tickets, only a header")
    empty = batch["text"].isna()
    if empty.any():
        raise StageError(f"{path}: {int(empty.sum())} ticket(s) without text, e.g. id {batch.loc[empty, 'id'].iloc[0]}")
    return batch


def vocabulary_of(classifier) -> tuple[set[str] | HashedVocabulary, Any]:
    """The words the classifier's TF-IDF step knows, and how it splits a text into words."""
    steps = [step for _, step in getattr(classifier, "steps", [])] or [classifier]
    vectorizer = next(
        (step for step in steps if hasattr(step, "vocabulary_") or isinstance(step, HashingVectorizer)), None
    )
    if vectorizer is None:
        raise StageError(f"{CLASSIFIER_FILE} has no text vectorizer with a vocabulary (vocabulary_)")
    preprocess, tokenize = vectorizer.build_preprocessor(), vectorizer.build_tokenizer()
    if isinstance(vectorizer, HashingVectorizer):  # classifier.kind: sgd_streaming
        idf = next((step.idf_ for step in steps if hasattr(step, "idf_")), None)
        if idf is None:
            raise StageError(f"{CLASSIFIER_FILE} hashes words but has no IDF (idf_) saying which columns it saw")
        return HashedVocabulary(vectorizer, idf), lambda text: tokenize(preprocess(text))
    words = {term for term in vectorizer.vocabulary_ if " " not in term}  # unigrams; n-grams are joined by spaces
    return words, lambda text: tokenize(preprocess(text))


class HashedVocabulary:
    """The words a hashing classifier (`classifier.kind: sgd_streaming`) saw in training.

    It keeps no words, only each column's IDF: a column no training ticket had
    has the largest IDF. A word is known when its column has a smaller one; a
    new word that shares a column with a known term (a hash collision) also
    counts as known, so the share of unknown words is a slight undercount.
    """

    def __init__(self, hashing: HashingVectorizer, idf: np.ndarray):
        # Each word is hashed as a document of its own: the training settings, unigrams only.
        self.columns = clone(hashing).set_params(ngram_range=(1, 1))
        self.seen = np.asarray(idf) < np.max(idf)

    def unknown(self, words: list[str]) -> int:
        """How many of `words` (repeats counted) are unknown, each distinct word hashed once."""
        counts = Counter(words)
        hashed = self.columns.transform(list(counts))
        rows = np.repeat(np.arange(len(counts)), np.diff(hashed.indptr))
        seen = np.zeros(len(counts), dtype=bool)
        seen[rows] = self.seen[hashed.indices]
        return int(np.asarray(list(counts.values()))[~seen].sum())


def oov_rate(texts: list[str], vocabulary: set[str] | HashedVocabulary, tokenize) -> float:
    """Share of all words in `texts` that are not in `vocabulary`."""
    words = [word for text in texts for word in tokenize(text)]
    if not words:
        return 0.0
    if isinstance(vocabulary, HashedVocabulary):
        return vocabulary.unknown(words) / len(words)
    return sum(word not in vocabulary for word in words) / len(words)


def nearest_similarity(vectors: np.ndarray, reference: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Cosine similarity of each row of `vectors` to its most similar row of `reference` (unit rows)."""
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        out[start : start + chunk] = (vectors[start : start + chunk] @ reference.T).max(axis=1)
    return out


def build_reference(
    train: pd.DataFrame, test: pd.DataFrame, classifier, encoder: Encoder, settings: dict[str, Any]
) -> Reference:
    """Everything a batch is compared with.

    The nearest-neighbour check compares with at most `max_reference_tickets` tickets of each split,
    sampled with `seed`: its cost grows with the product of the two sizes.
    """
    limit, seed = int(settings["max_reference_tickets"]), int(settings["seed"])

    def sample(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sample(n=limit, random_state=seed).sort_index() if len(frame) > limit else frame

    vocabulary, tokenize = vocabulary_of(classifier)
    train_vectors = encoder.encode(sample(train)["text"].tolist())
    test_texts = test["text"].tolist()
    probabilities = classifier.predict_proba(test_texts)
    classes = [str(c) for c in classifier.classes_]
    predicted = np.asarray(classes)[probabilities.argmax(axis=1)]
    return Reference(
        train=train,
        test=test,
        classes=classes,
        vocabulary=vocabulary,
        tokenize=tokenize,
        train_vectors=train_vectors,
        test_nearest=nearest_similarity(encoder.encode(sample(test)["text"].tolist()), train_vectors),
        test_predicted=predicted,
        test_confidence=probabilities.max(axis=1),
        test_oov_rate=oov_rate(test_texts, vocabulary, tokenize),
        test_accuracy=accuracy_score(test["label"], predicted),
        test_macro_f1=f1_score(test["label"], predicted, labels=classes, average="macro", zero_division=0),
    )


def ks_check(batch: np.ndarray, reference: np.ndarray, alpha: float, against: str) -> dict[str, Any]:
    """Two-sample Kolmogorov-Smirnov test: drift when p < alpha."""
    result = stats.ks_2samp(batch, reference)
    return {
        "method": "ks",
        "against": against,
        "statistic": rounded(result.statistic),
        "p_value": rounded(result.pvalue),
        "threshold": alpha,
        "detected": bool(result.pvalue < alpha),
        "batch_median": rounded(np.median(batch)),
        "reference_median": rounded(np.median(reference)),
    }


def psi(batch_share: np.ndarray, reference_share: np.ndarray) -> float:
    """Population stability index; a share of 0 on either side counts as `PSI_FLOOR`."""
    b, r = np.maximum(batch_share, PSI_FLOOR), np.maximum(reference_share, PSI_FLOOR)
    return float(np.sum((b - r) * np.log(b / r)))


def chi2_check(batch: pd.Series, reference: pd.Series, alpha: float, against: str) -> dict[str, Any]:
    """Chi-square test of homogeneity of two categorical samples: drift when p < alpha.

    Values absent from `reference` are listed with their counts (`unseen`).
    """
    batch_counts = batch.astype(str).value_counts()
    reference_counts = reference.astype(str).value_counts()
    categories = sorted(set(batch_counts.index) | set(reference_counts.index))
    table = np.array(
        [[reference_counts.get(c, 0) for c in categories], [batch_counts.get(c, 0) for c in categories]], dtype=float
    )
    if len(categories) > 1:
        statistic, p_value, _, _ = stats.chi2_contingency(table)
    else:
        statistic, p_value = 0.0, 1.0
    shares = table / table.sum(axis=1, keepdims=True)
    unseen = {c: int(batch_counts[c]) for c in categories if c not in reference_counts.index}
    return {
        "method": "chi2",
        "against": against,
        "statistic": rounded(statistic),
        "p_value": rounded(p_value),
        "threshold": alpha,
        "detected": bool(p_value < alpha),
        "psi": rounded(psi(shares[1], shares[0])),
        "unseen": unseen,
        "batch_share": {c: rounded(s) for c, s in zip(categories, shares[1], strict=True)},
        "reference_share": {c: rounded(s) for c, s in zip(categories, shares[0], strict=True)},
    }


def check_batch(
    batch: pd.DataFrame, reference: Reference, classifier, encoder: Encoder, settings: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every check on `batch`. Returns the metrics (drift.json) and the values the report plots."""
    alpha = float(settings["alpha"])
    texts = batch["text"].astype(str).tolist()
    checks: dict[str, Any] = {}

    lengths = batch["text"].astype(str).str.len().to_numpy()
    train_lengths = reference.train["text"].astype(str).str.len().to_numpy()
    checks["text_length"] = ks_check(lengths, train_lengths, alpha, "train")

    rate = oov_rate(texts, reference.vocabulary, reference.tokenize)
    limit = reference.test_oov_rate + float(settings["oov"]["max_increase"])
    checks["out_of_vocabulary"] = {
        "method": "score",
        "against": "test",
        "score": rounded(rate),
        "reference": rounded(reference.test_oov_rate),
        "threshold": rounded(limit),
        "detected": bool(rate > limit),
    }

    quantile = float(settings["far"]["quantile"])
    cutoff = float(np.quantile(reference.test_nearest, quantile))
    nearest = nearest_similarity(encoder.encode(texts), reference.train_vectors)
    far = int((nearest < cutoff).sum())
    p_far = stats.binomtest(far, len(texts), quantile, alternative="greater").pvalue
    checks["far_from_training"] = {
        "method": "binomial",
        "against": "test",
        "score": rounded(far / len(texts)),
        "reference": quantile,
        "cutoff_similarity": rounded(cutoff),
        "p_value": rounded(p_far),
        "threshold": alpha,
        "detected": bool(p_far < alpha),
    }

    probabilities = classifier.predict_proba(texts)
    predicted = np.asarray(reference.classes)[probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    checks["predicted_labels"] = chi2_check(pd.Series(predicted), pd.Series(reference.test_predicted), alpha, "test")
    checks["confidence"] = ks_check(confidence, reference.test_confidence, alpha, "test")

    max_unseen = float(settings["categorical"]["max_unseen_share"])
    for column in settings["categorical"]["columns"]:
        if column not in batch.columns or column not in reference.train.columns:
            checks[f"categorical.{column}"] = {"method": "chi2", "skipped": f"no column {column}", "detected": False}
            continue
        check = chi2_check(batch[column].fillna(""), reference.train[column].fillna(""), alpha, "train")
        check["unseen_share"] = rounded(sum(check["unseen"].values()) / len(batch))
        check["max_unseen_share"] = max_unseen
        check["detected"] = check["detected"] or check["unseen_share"] > max_unseen
        checks[f"categorical.{column}"] = check

    labelled = batch["label"].notna().to_numpy() if "label" in batch.columns else np.zeros(len(batch), dtype=bool)
    max_drop = float(settings["performance"]["max_drop"])
    if labelled.any():
        truth = batch.loc[labelled, "label"].astype(str).to_numpy()
        guess = predicted[labelled]
        accuracy = accuracy_score(truth, guess)
        macro_f1 = f1_score(truth, guess, labels=reference.classes, average="macro", zero_division=0)
        correct = int((truth == guess).sum())
        p_accuracy = stats.binomtest(correct, len(truth), reference.test_accuracy, alternative="less").pvalue
        for name, value, base, p_value in [
            ("accuracy", accuracy, reference.test_accuracy, p_accuracy),
            ("macro_f1", macro_f1, reference.test_macro_f1, None),
        ]:
            checks[name] = {
                "method": "drop",
                "against": "test",
                "score": rounded(value),
                "reference": rounded(base),
                **({"p_value": rounded(p_value)} if p_value is not None else {}),
                "threshold": rounded(base - max_drop),
                "detected": bool(base - value > max_drop),
            }
        checks["label_mix"] = chi2_check(pd.Series(truth), reference.train["label"], alpha, "train")
        checks["label_mix"]["detected"] = checks["label_mix"]["detected"] or bool(checks["label_mix"]["unseen"])
    else:
        for name in ("accuracy", "macro_f1", "label_mix"):
            checks[name] = {"method": "none", "skipped": "the batch has no labels", "detected": False}

    metrics = {
        "detected": any(check["detected"] for check in checks.values()),
        "batch": {"file": BATCH_FILE.as_posix(), "tickets": len(batch), "labelled": int(labelled.sum())},
        "checks": checks,
    }
    plotted = {"lengths": lengths, "confidence": confidence, "nearest": nearest, "cutoff": cutoff}
    return metrics, plotted


# ----------------------------------------------------------------------------- report
def md(value: Any) -> str:
    """Text for a Markdown table cell: HTML-escaped, pipes and backticks neutralised."""
    return html.escape(str(value)).replace("|", "&#124;").replace("`", "&#96;")


def describe(check: dict[str, Any]) -> tuple[str, str, str]:
    """(value, threshold, verdict) of a check, as words."""
    if "skipped" in check:
        return "–", "–", f"skipped: {check['skipped']}"
    if "p_value" in check and check["method"] != "drop":
        value = f"p = {check['p_value']:.3g}"
        if "statistic" in check:
            value = f"{check['method']} {check['statistic']:.3g}, {value}"
        elif "score" in check:
            value = f"share {check['score']:.3g} (expected {check['reference']:.3g}), {value}"
        threshold = f"p < {check['threshold']:g}"
    else:
        value = f"{check['score']:.4g} (reference {check['reference']:.4g})"
        threshold = f"{'>' if check['method'] == 'score' else '<'} {check['threshold']:.4g}"
    extra = [f"unseen: {', '.join(f'{k} ({n})' for k, n in check['unseen'].items())}"] if check.get("unseen") else []
    if "unseen_share" in check:
        threshold += f" or unseen share > {check['max_unseen_share']:g}"
    return value, threshold, "; ".join(["drift" if check["detected"] else "ok", *extra])


def markdown_summary(metrics: dict[str, Any]) -> str:
    """The verdict and the table of checks, for a pull request or a job summary."""
    batch = metrics["batch"]
    title = "❌ Drift detected" if metrics["detected"] else "✅ No drift detected"
    lines = [
        f"## {title}",
        "",
        f"Batch `{md(batch['file'])}`: {batch['tickets']} tickets, {batch['labelled']} labelled. "
        "Thresholds: `drift` in params.yaml.",
        "",
        "| check | against | value | drift when | verdict |",
        "|---|---|---|---|---|",
    ]
    for name, check in metrics["checks"].items():
        value, threshold, verdict = describe(check)
        against = check.get("against", "–")
        lines.append(f"| `{md(name)}` | {md(against)} | {md(value)} | {md(threshold)} | {md(verdict)} |")
    return "\n".join(lines) + "\n"


COLOURS = ("#4c78a8", "#f58518")


def svg_start(title: str, width: int, height: int, names: list[str], left: int) -> list[str]:
    """The opening of a plot: the SVG element, its title and a legend of `names`, one colour each."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<title>{html.escape(title)}</title><text x="4" y="16" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, name in enumerate(names):
        x = left + i * 160
        parts.append(f'<rect x="{x}" y="22" width="10" height="10" fill="{COLOURS[i % 2]}"/>')
        parts.append(f'<text x="{x + 14}" y="31" font-size="12">{html.escape(name)}</text>')
    return parts


def svg_bars(title: str, categories: list[str], series: dict[str, list[float]], width: int = 640) -> str:
    """Grouped horizontal bars (shares per category), one colour per series, as inline SVG."""
    row, bar = 12 * len(series) + 8, 12
    height = 40 + row * len(categories) + 20
    left, right = 160, width - 20
    top = max((v for values in series.values() for v in values), default=0) or 1
    parts = svg_start(title, width, height, list(series), left)
    for j, category in enumerate(categories):
        y = 40 + j * row
        parts.append(f'<text x="{left - 6}" y="{y + row / 2 + 4}" text-anchor="end" font-size="12">')
        parts.append(f"{html.escape(str(category))}</text>")
        for i, values in enumerate(series.values()):
            length = (right - left) * values[j] / top
            parts.append(
                f'<rect x="{left}" y="{y + 4 + i * bar}" width="{length:.1f}" height="{bar - 2}" '
                f'fill="{COLOURS[i % 2]}"><title>{html.escape(str(category))}: {values[j]:.3f}</title></rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(title: str, series: dict[str, np.ndarray], bins: int = 20, marker: float | None = None) -> str:
    """Overlaid histograms (share of each series per bin) as inline SVG, with an optional vertical marker."""
    width, height, left, bottom, top_margin = 640, 220, 40, 30, 40
    values = np.concatenate([np.asarray(v, dtype=float) for v in series.values()])
    low, high = float(np.min(values)), float(np.max(values))
    high = high if high > low else low + 1
    edges = np.linspace(low, high, bins + 1)
    shares = {name: np.histogram(v, bins=edges)[0] / max(len(v), 1) for name, v in series.items()}
    top = max(float(s.max()) for s in shares.values()) or 1
    plot_w, plot_h = width - left - 10, height - bottom - top_margin
    parts = svg_start(title, width, height, list(shares), left)
    for i, share in enumerate(shares.values()):
        points = []
        for k, s in enumerate(share):
            x0, x1 = left + plot_w * k / bins, left + plot_w * (k + 1) / bins
            y = top_margin + plot_h * (1 - s / top)
            points += [f"{x0:.1f},{y:.1f}", f"{x1:.1f},{y:.1f}"]
        parts.append(f'<polyline fill="none" stroke="{COLOURS[i % 2]}" stroke-width="2" points="{" ".join(points)}"/>')
    axis_y = top_margin + plot_h
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="#555"/>')
    parts.append(f'<text x="{left}" y="{axis_y + 16}" font-size="11">{low:.3g}</text>')
    parts.append(f'<text x="{left + plot_w}" y="{axis_y + 16}" font-size="11" text-anchor="end">{high:.3g}</text>')
    if marker is not None and low <= marker <= high:
        x = left + plot_w * (marker - low) / (high - low)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top_margin}" x2="{x:.1f}" y2="{axis_y}" stroke="#c00" stroke-dasharray="4"/>'
        )
        parts.append(
            f'<text x="{x + 4:.1f}" y="{top_margin + 10}" font-size="11" fill="#c00">cutoff {marker:.3g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def share_bars(title: str, check: dict[str, Any], reference_name: str) -> str:
    categories = list(check["reference_share"])
    return svg_bars(
        title,
        categories,
        {reference_name: list(check["reference_share"].values()), "batch": list(check["batch_share"].values())},
    )


def html_report(metrics: dict[str, Any], plotted: dict[str, Any], reference: Reference) -> str:
    """A self-contained page (no scripts, no external assets); every data-derived string is escaped."""
    checks = metrics["checks"]
    rows = []
    for name, check in checks.items():
        value, threshold, verdict = describe(check)
        style = ' class="drift"' if check["detected"] else ""
        cells = [name, check.get("against", "–"), value, threshold, verdict]
        rows.append(f"<tr{style}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    plots = [
        svg_histogram(
            "Text length (characters)",
            {"train": reference.train["text"].astype(str).str.len().to_numpy(), "batch": plotted["lengths"]},
        ),
        svg_histogram(
            "Similarity to the nearest training ticket",
            {"test": reference.test_nearest, "batch": plotted["nearest"]},
            marker=plotted["cutoff"],
        ),
        svg_histogram("Top-class probability", {"test": reference.test_confidence, "batch": plotted["confidence"]}),
        share_bars("Predicted labels", checks["predicted_labels"], "test"),
    ]
    plots += [
        share_bars(f"Column {name.split('.', 1)[1]}", check, "train")
        for name, check in checks.items()
        if name.startswith("categorical.") and "skipped" not in check
    ]
    if "skipped" not in checks["label_mix"]:
        plots.append(share_bars("Labels", checks["label_mix"], "train"))
    batch = metrics["batch"]
    verdict = "Drift detected" if metrics["detected"] else "No drift detected"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(verdict)}: drift report</title>",
            "<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}tr.drift td{background:#fde0dc}"
            "svg{display:block;margin:1.5em 0}</style></head><body>",
            f"<h1>{html.escape(verdict)}</h1>",
            f"<p>Batch <code>{html.escape(batch['file'])}</code>: {batch['tickets']} tickets, "
            f"{batch['labelled']} labelled. Thresholds: <code>drift</code> in params.yaml.</p>",
            "<table><tr><th>check</th><th>against</th><th>value</th><th>drift when</th><th>verdict</th></tr>",
            *rows,
            "</table>",
            *plots,
            "</body></html>",
        ]
    )


def metrics_file(metrics: dict[str, Any]) -> dict[str, Any]:
    """`metrics` without what only the report needs (method names, shares per category): numbers and verdicts."""
    checks = {
        name: {key: value for key, value in check.items() if key not in REPORT_ONLY}
        for name, check in metrics["checks"].items()
    }
    return {**metrics, "checks": checks}


def verdict(path: Path = METRICS_FILE) -> int:
    """`make drift`'s exit code from the last check: 1 when drift was detected, else 0."""
    if not path.is_file():
        raise StageError(f"{path} not found: run `dvc repro drift` first")
    detected = bool(read_json(path)["detected"])
    print(f"drift detected: see {REPORT_DIR / 'index.html'}" if detected else "no drift detected")
    return 1 if detected else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.stages.drift", description="Check the incoming batch for drift."
    )
    parser.add_argument(
        "--verdict", action="store_true", help=f"only read {METRICS_FILE}: exit 1 if drift was detected"
    )
    if parser.parse_args(argv).verdict:
        return verdict()
    settings = load_params()["drift"]
    batch = read_batch(BATCH_FILE)
    classifier = load_model(CLASSIFIER_FILE)
    encoder = Encoder(ENCODER_DIR)
    reference = build_reference(read_csv(TRAIN_FILE), read_csv(TEST_FILE), classifier, encoder, settings)
    metrics, plotted = check_batch(batch, reference, classifier, encoder, settings)
    write_json(metrics_file(metrics), METRICS_FILE)
    write_text(markdown_summary(metrics), REPORT_DIR / "summary.md")
    write_text(html_report(metrics, plotted, reference), REPORT_DIR / "index.html")
    found = [name for name, check in metrics["checks"].items() if check["detected"]]
    outcome = f"DRIFT in {', '.join(found)}" if found else "no drift"
    print(f"drift: {outcome} ({len(batch)} tickets checked). Report: {REPORT_DIR / 'index.html'}")
    return 0


if __name__ == "__main__":
    run_stage(main)
