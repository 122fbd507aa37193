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


def with_plain_vocabulary(classifier: Pipeline) -> Pipeline:
    """The fitted `classifier` with its TF-IDF vocabulary indices as Python ints.

    With `max_features` set, scikit-learn leaves them numpy.int64, and skops
    stores each one as its own array in the model file: at 800 k tickets (50 k
    terms) that took 157 s to save (46 MB) and 7.4 s to load, against 2 s
    (2.7 MB) and 1.3 s as ints. Predictions are the same.
    """
    tfidf = classifier.named_steps["tfidf"]
    tfidf.vocabulary_ = {term: int(index) for term, index in tfidf.vocabulary_.items()}
    return classifier


def main() -> int:
    params = load_params()["classifier"]
    train = read_csv("data/split/train.csv")
    classifier = with_plain_vocabulary(build_classifier(params).fit(train["text"], train["label"]))
    save_model(classifier, OUT_FILE)
    print(f"train_classifier: fitted on {len(train)} tickets, {len(classifier.classes_)} labels -> {OUT_FILE}")
    return 0


if __name__ == "__main__":
    run_stage(main)
