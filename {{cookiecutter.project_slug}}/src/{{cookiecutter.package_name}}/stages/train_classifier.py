"""Stage `train_classifier`: fit the ticket classifier on the training split.

TF-IDF over word n-grams and a logistic regression: strong on short support
text, fast on a laptop, and its probabilities are usable for triage routing.
"""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from ..io import read_csv
from ..models import save_model
from ..params import load_params
from ..runner import run_stage

OUT_FILE = "models/candidate/classifier.skops"


def build_classifier(params: dict) -> Pipeline:
    """The untrained pipeline described by the `classifier` params."""
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


def main() -> int:
    params = load_params()["classifier"]
    train = read_csv("data/split/train.csv")
    classifier = build_classifier(params).fit(train["text"], train["label"])
    save_model(classifier, OUT_FILE)
    print(f"train_classifier: fitted on {len(train)} tickets, {len(classifier.classes_)} labels -> {OUT_FILE}")
    return 0


if __name__ == "__main__":
    run_stage(main)
