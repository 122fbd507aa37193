"""Stage `train_classifier`: fit the ticket classifier on the training split.

`classifier.kind` picks how:

- `logistic` (the default): TF-IDF over word n-grams and a logistic regression:
  strong on short support text, fast on a laptop, and its probabilities are
  usable for triage routing. It reads the whole training split into memory.
- `sgd_streaming`: the same kind of model trained out of core, for a training
  split larger than memory. The split is read in fixed-order chunks of
  `chunk_size` rows, never whole. Words are hashed into `n_features` columns
  (`HashingVectorizer`: no vocabulary to hold); a first pass sums each chunk's
  document frequencies into the IDF, then each epoch feeds every chunk's
  TF-IDF rows to `SGDClassifier(loss="log_loss").partial_fit`. Memory grows
  with `chunk_size` and `n_features`, not with the number of tickets.

Both save an ordinary scikit-learn Pipeline with `predict_proba`, so evaluate,
promote, drift and the service use either unchanged, and both are deterministic
(fixed order, fixed seeds, one thread): the same inputs give the same model file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline

from ..io import read_csv, read_csv_chunks
from ..models import save_model
from ..params import load_params
from ..runner import StageError, run_stage

TRAIN_FILE = "data/split/train.csv"
OUT_FILE = "models/candidate/classifier.skops"


def build_classifier(params: dict) -> Pipeline:
    """The untrained pipeline described by the `classifier` params (kind `logistic`)."""
    return Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    ngram_range=tuple(params["ngram_range"]),
                    min_df=params["min_df"],
                    max_features=params["max_features"],
                    sublinear_tf=params["sublinear_tf"],
                ),
            ),
            (
                "model",
                LogisticRegression(
                    C=params["C"],
                    class_weight=params["class_weight"],
                    max_iter=params["max_iter"],
                    random_state=params["seed"],
                ),
            ),
        ]
    )


def hashing_vectorizer(settings: dict) -> HashingVectorizer:
    """Raw term counts hashed into `n_features` columns; TF-IDF weighting and the l2 norm come after."""
    return HashingVectorizer(
        n_features=settings["n_features"],
        ngram_range=tuple(settings["ngram_range"]),
        alternate_sign=False,  # counts stay counts, so a column's document frequency is its non-zero count
        norm=None,
    )


def smooth_idf(n_documents: int, document_frequency: np.ndarray) -> np.ndarray:
    """IDF as `TfidfTransformer(smooth_idf=True)` computes it: ln((1 + n) / (1 + df)) + 1, the same floats."""
    return np.log((n_documents + 1) / (document_frequency.astype(np.float64) + 1)) + 1


def count_documents(chunks: Iterator[pd.DataFrame], hashing: HashingVectorizer) -> tuple[int, np.ndarray, pd.Series]:
    """First pass: the number of tickets, each column's document frequency, and the tickets per label.

    A chunk's hashed matrix has one entry per (ticket, column) that occurs, so
    counting its column indices counts documents; the sums over chunks are the
    whole split's.
    """
    n_documents, frequency, label_counts = 0, np.zeros(hashing.n_features, dtype=np.int64), pd.Series(dtype=np.int64)
    for chunk in chunks:
        counts = hashing.transform(chunk["text"])
        frequency += np.bincount(counts.indices, minlength=hashing.n_features)
        n_documents += counts.shape[0]
        label_counts = label_counts.add(chunk["label"].value_counts(), fill_value=0)
    return n_documents, frequency, label_counts.astype(np.int64).sort_index()


def balanced_weights(label_counts: pd.Series) -> dict[str, float]:
    """`class_weight="balanced"` from counts (partial_fit cannot compute it): n / (labels x count)."""
    total, n_labels = int(label_counts.sum()), len(label_counts)
    return {str(label): total / (n_labels * int(count)) for label, count in label_counts.items()}


def fit_streaming(
    chunks: Callable[[], Iterator[pd.DataFrame]], settings: dict, source: str = TRAIN_FILE
) -> tuple[Pipeline, int]:
    """The `sgd_streaming` pipeline fitted on the tickets `chunks()` yields (columns text, label), and their count.

    `chunks` is called once per pass and must yield the same chunks in the same
    order each time. With `shuffle`, each chunk's rows are permuted with a seed
    made of (seed, epoch, chunk number), so the order is fixed, yet differs per
    epoch; without it, SGD sees the tickets in file order and the chunk size
    only decides how many rows each `partial_fit` call gets.
    """
    hashing = hashing_vectorizer(settings)
    n_documents, frequency, label_counts = count_documents(chunks(), hashing)
    if len(label_counts) < 2:
        raise StageError(f"{source}: training needs tickets of at least 2 labels, found {len(label_counts)}")
    tfidf = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=settings["sublinear_tf"])
    tfidf.idf_ = smooth_idf(n_documents, frequency)
    tfidf.n_features_in_ = hashing.n_features
    weights = balanced_weights(label_counts) if settings["class_weight"] == "balanced" else None
    model = SGDClassifier(
        loss="log_loss", alpha=settings["alpha"], class_weight=weights, shuffle=False, random_state=settings["seed"]
    )
    classes = np.array([str(label) for label in label_counts.index], dtype=object)
    for epoch in range(settings["epochs"]):
        for number, chunk in enumerate(chunks()):
            features, labels = tfidf.transform(hashing.transform(chunk["text"])), chunk["label"].to_numpy()
            if settings["shuffle"]:
                order = np.random.default_rng([settings["seed"], epoch, number]).permutation(len(labels))
                features, labels = features[order], labels[order]
            model.partial_fit(features, labels, classes=classes)
    return Pipeline([("hashing", hashing), ("tfidf", tfidf), ("model", model)]), n_documents


def train(params: dict, path: str = TRAIN_FILE) -> tuple[Pipeline, str]:
    """The classifier of kind `params["kind"]` fitted on the tickets at `path`, and a line saying what was fitted."""
    if params["kind"] == "sgd_streaming":
        settings = params["sgd_streaming"]
        chunks = partial(read_csv_chunks, path, ["text", "label"], settings["chunk_size"])
        classifier, n_tickets = fit_streaming(chunks, settings, path)
        return classifier, (
            f"sgd_streaming on {n_tickets} tickets, {settings['epochs']} epoch(s) of "
            f"{settings['chunk_size']}-ticket chunks"
        )
    train_set = read_csv(path)
    return build_classifier(params).fit(train_set["text"], train_set["label"]), f"on {len(train_set)} tickets"


def main() -> int:
    classifier, fitted = train(load_params()["classifier"])
    save_model(classifier, OUT_FILE)
    print(f"train_classifier: fitted {fitted}, {len(classifier.classes_)} labels -> {OUT_FILE}")
    return 0


if __name__ == "__main__":
    run_stage(main)
