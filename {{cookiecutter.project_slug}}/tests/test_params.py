"""params.yaml's schema: every bad value is refused with one line naming its key."""

import copy
import math

import pytest
import yaml

from {{ cookiecutter.package_name }}.params import Params, ParamsError, check, load_params


@pytest.fixture(scope="module")
def shipped():
    return load_params()


def with_value(tree, path, value):
    """A copy of `tree` with the key at `path` (a list of keys) set to `value`, or removed if value is ..."""
    tree = copy.deepcopy(tree)
    node = tree
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return tree


BAD = [
    (["classifier", "max_iter"], -1, "classifier.max_iter must be an integer ≥ 1, got -1"),
    (["evaluate", "curve_max_k"], "ten", "evaluate.curve_max_k must be an integer ≥ 1, got 'ten'"),
    (["embed", "cache_dir"], None, "embed.cache_dir must be non-empty text, got nothing (an empty value)"),
    (["embed", "engine"], "spark", "embed.engine must be one of 'local', 'dask', got 'spark'"),
    (["embed", "dask", "chunk_size"], 0, "embed.dask.chunk_size must be an integer ≥ 1, got 0"),
    (["evaluate", "recall_at"], [0, 5], "evaluate.recall_at.0 must be an integer ≥ 1, got 0"),
    (["index", "k"], 0, "index.k must be an integer ≥ 1, got 0"),
    (["validate", "labels"], "billing", "validate.labels must be a list of at least 2 non-empty texts, got 'billing'"),
    (["classifier", "C"], math.nan, "classifier.C must be a number > 0, got NaN"),
    (["classifier", "C"], "4", "classifier.C must be a number > 0, got '4'"),
    (["classifier", "sublinear_tf"], "yes", "classifier.sublinear_tf must be true or false, got 'yes'"),
    (["classifier", "class_weight"], "balance", "classifier.class_weight must be 'balanced' or empty, got 'balance'"),
    (["classifier", "ngram_range"], [2, 1], "classifier.ngram_range: the smallest n (2) must not be above the largest"),
    (["classifier", "colour"], "red", "classifier.colour is not a known key of classifier (known: C, class_weight"),
    (["encoder", "backend"], "bert", "encoder.backend must be one of 'tfidf-svd', 'sentence-transformers'"),
    (["encoder", "hybrid", "dense_weight"], 1.5, "encoder.hybrid.dense_weight must be a number ≥ 0 and ≤ 1, got 1.5"),
    (["split", "test_size"], 1.0, "split.test_size must be a number > 0 and < 1, got 1.0"),
    (["index", "hnsw"], ..., "index.hnsw is missing: it must be a mapping with the keys m, ef_construction"),
    (["data", "start_date"], "2024-13-01", "data.start_date: month must be in 1..12, got '2024-13-01'"),
    (["gate", "thresholds", "classification", "accuracy"], math.inf, "the floor of classification.accuracy"),
    (["gate", "regression", "retrieval.mrr", "direction"], "up", "gate.regression.retrieval.mrr.direction must be"),
    (["max_features"], 3, "max_features is not a known key of the top level"),
    (["classifier", "kind"], "svm", "classifier.kind must be one of 'logistic', 'sgd_streaming', got 'svm'"),
    (
        ["classifier", "sgd_streaming", "n_features"],
        1000000,
        "classifier.sgd_streaming.n_features: must be a power of two, e.g. 262144 (2**18) or 1048576 (2**20), "
        "got 1000000",
    ),
    (["classifier", "sgd_streaming", "n_features"], 8, "classifier.sgd_streaming.n_features must be an integer ≥ 16"),
    (["classifier", "sgd_streaming", "chunk_size"], 0, "classifier.sgd_streaming.chunk_size must be an integer ≥ 1"),
    (["classifier", "sgd_streaming", "alpha"], 0.0, "classifier.sgd_streaming.alpha must be a number > 0, got 0.0"),
    (["classifier", "sgd_streaming", "ngram_range"], [3, 1], "classifier.sgd_streaming.ngram_range: the smallest n"),
    (["classifier", "sgd_streaming"], ..., "classifier.sgd_streaming is missing: it must be a mapping with the keys"),
    # a long value is cut to 80 characters
    (
        ["classifier", "class_weight"],
        "x" * 100,
        "classifier.class_weight must be 'balanced' or empty, got '" + "x" * 76 + "...",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[".".join(p) for p, _, _ in BAD])
def test_a_bad_value_is_refused_with_one_line_naming_its_key(shipped, path, value, message):
    with pytest.raises(ParamsError) as error:
        check(with_value(shipped, path, value), Params)
    text = str(error.value)
    assert text.startswith("params.yaml: ") and message in text
    assert "\n" not in text


def test_the_shipped_params_and_your_own_expectation_values_are_accepted(shipped):
    check(shipped, Params)
    check(with_value(shipped, ["validate", "tickets", "customer_tiers"], ["free", "pro"]), Params)


@pytest.mark.parametrize(("n_features", "accepted"), [(2**4, True), (2**28, True), (2**29, False), (3 * 2**10, False)])
def test_hashed_columns_are_a_power_of_two_within_bounds(shipped, n_features, accepted):
    tree = with_value(shipped, ["classifier", "sgd_streaming", "n_features"], n_features)
    if accepted:
        assert check(tree, Params).classifier.sgd_streaming.n_features == n_features
    else:
        with pytest.raises(ParamsError, match="classifier.sgd_streaming.n_features"):
            check(tree, Params)


def test_a_file_that_is_not_yaml_is_refused_with_its_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("classifier:\n  C: [1.0\n")
    with pytest.raises(ParamsError, match=r"is not valid YAML at line \d+"):
        load_params(path)


def test_every_section_of_the_schema_is_in_the_shipped_file(shipped):
    fields = {field.alias or name: field for name, field in Params.model_fields.items()}
    assert {name for name, field in fields.items() if field.is_required()} <= set(shipped) <= set(fields)
    assert yaml.safe_dump(shipped)  # plain data, nothing a loader would need to trust
