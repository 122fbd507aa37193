"""The stages between validation and evaluation (train_classifier, train_encoder, embed, index), run as
`dvc repro` runs them, in a tiny project: what each writes and says, recomputed from the same inputs; and
`make tune-abstention`, which sets the index's threshold from evaluate's cases."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import abstention
from {{ cookiecutter.package_name }}.abstention import set_threshold
from {{ cookiecutter.package_name }}.encoders import Encoder, build_encoder
from {{ cookiecutter.package_name }}.io import read_csr, read_csv, read_json, read_lines, write_csv
from {{ cookiecutter.package_name }}.models import load_model
from {{ cookiecutter.package_name }}.modelset import file_hashes, part_version
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.retrieval import abstention_metrics, answered, tune_abstention
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages import embed, index, train_classifier, train_encoder
from {{ cookiecutter.package_name }}.stages.sample_data import generate_kb, generate_queries, generate_tickets
from {{ cookiecutter.package_name }}.text import kb_documents
from {{ cookiecutter.package_name }}.vector_index import build_index

PARAMS = Path("params.yaml").resolve()
TERMS = "data/embeddings/terms"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Validated data and a training split, as the stages before these leave them; params with a small encoder."""
    text = PARAMS.read_text(encoding="utf-8").replace("n_components: 128", "n_components: 6")
    # the stages' logic, whatever backends the project was made with: a small TF-IDF encoder, an exact index
    text = re.sub(r"^(encoder:\n  backend:) \S+", r"\1 tfidf-svd", text, flags=re.MULTILINE)
    text = re.sub(r"^(index:\n  backend:) \S+", r"\1 exact", text, flags=re.MULTILINE)
    (tmp_path / "params.yaml").write_text(text.replace("latency_repeats: 3", "latency_repeats: 2"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    kb = generate_kb(35, rng)
    write_csv(kb, "data/validated/kb.csv")
    write_csv(generate_queries(kb, 1, rng), "data/validated/queries.csv")
    write_csv(generate_tickets(150, 0.0, "2024-01-01", "2024-02-01", rng), "data/split/train.csv")
    return tmp_path


def promote_candidate():
    shutil.copytree("models/candidate", "models/production")


def test_train_classifier_fits_the_params_pipeline_on_the_training_split(project, capsys):
    assert train_classifier.main() == 0
    train = read_csv("data/split/train.csv")
    saved = load_model("models/candidate/classifier.skops")
    expected = train_classifier.build_classifier(load_params()["classifier"]).fit(train["text"], train["label"])
    texts = ["I was charged twice", "the parcel never arrived", "password reset email missing"]
    assert np.array_equal(saved.predict_proba(texts), expected.predict_proba(texts))
    labels = train["label"].nunique()
    assert capsys.readouterr().out == (
        f"train_classifier: fitted on 150 tickets, {labels} labels -> models/candidate/classifier.skops\n"
    )


def test_build_classifier_passes_every_param_on():
    params = {
        "ngram_range": [1, 3],
        "min_df": 2,
        "max_features": 99,
        "sublinear_tf": False,
        "C": 0.5,
        "class_weight": "balanced",
        "max_iter": 7,
        "seed": 3,
    }
    tfidf, model = (step for _, step in train_classifier.build_classifier(params).steps)
    assert (tfidf.ngram_range, tfidf.min_df, tfidf.max_features, tfidf.sublinear_tf) == ((1, 3), 2, 99, False)
    assert (model.C, model.class_weight, model.max_iter, model.random_state) == (0.5, "balanced", 7, 3)


def test_train_encoder_fits_on_the_kb_and_the_training_tickets(project, capsys):
    assert train_encoder.main() == 0
    params = load_params()["encoder"]
    kb, train = read_csv("data/validated/kb.csv"), read_csv("data/split/train.csv")
    build_encoder("tfidf-svd", kb_documents(kb), params, project / "expected", extra_texts=train["text"].tolist())
    saved, expected = Encoder("models/candidate/encoder"), Encoder(project / "expected")
    assert saved.fingerprint == expected.fingerprint and saved.lexical_fingerprint == expected.lexical_fingerprint
    weight = params["hybrid"]["dense_weight"]
    assert saved.dense_weight == weight
    assert capsys.readouterr().out == (
        f"train_encoder: tfidf-svd encoder from 35 articles and 150 tickets, BM25 blended with dense weight {weight}"
        " -> models/candidate/encoder\n"
    )


def test_embed_writes_the_kb_vectors_and_reuses_them_on_a_second_run(project, capsys):
    train_encoder.main()
    promote_candidate()
    capsys.readouterr()
    assert embed.main() == 0
    encoder = Encoder("models/production/encoder")
    kb = read_csv("data/validated/kb.csv")
    vectors = np.load("data/embeddings/vectors.npy")
    assert np.array_equal(vectors, encoder.encode(kb_documents(kb)))
    assert read_lines("data/embeddings/ids.txt") == kb["id"].tolist()
    terms = read_csr(TERMS)
    assert (terms != encoder.lexical.document_weights(kb_documents(kb))).nnz == 0
    assert capsys.readouterr().out == "embed: 35 articles, 35 embedded, 0 reused from cache (dim 6)\n"
    assert embed.main() == 0
    assert capsys.readouterr().out == (
        "embed: 35 articles, 0 embedded, 35 reused from cache (dim 6): .cache/embeddings already held them for"
        " this encoder, from evaluate (which embeds the KB to measure retrieval) or an earlier run\n"
    )
    # a dense-only encoder has no BM25 rows: none of the earlier encoder's may be left behind
    meta = Path("models/production/encoder/encoder.json")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "dense_weight": 1.0}))
    shutil.rmtree("models/production/encoder/lexical")
    assert embed.main() == 0
    assert not Path("data/embeddings/terms").exists() and Path("data/embeddings/vectors.npy").is_file()


def test_index_saves_the_index_its_titles_and_its_metrics(project, capsys):
    Path("params.yaml").write_text(Path("params.yaml").read_text().replace("abstain_below: 0.0", "abstain_below: 1.0"))
    train_encoder.main()
    promote_candidate()
    embed.main()
    capsys.readouterr()
    assert index.main() == 0
    kb = read_csv("data/validated/kb.csv")
    assert read_json("data/index/titles.json") == kb["title"].tolist()
    version = part_version(file_hashes("models/production", ("encoder",)), "encoder")
    assert read_json("data/index/source.json") == {"encoder": version, "abstain_below": 1.0}
    metrics = read_json("metrics/index.json")["index"]
    assert {key: metrics[key] for key in ("vectors", "dim", "recall_at_10_vs_exact")} == {
        "vectors": 35,
        "dim": 6,
        "recall_at_10_vs_exact": 1.0,
    }
    # the golden queries without an article: how well a best score below abstain_below (1.0) tells them apart
    queries = read_csv("data/validated/queries.csv")
    encoder = Encoder("models/production/encoder")
    exact = build_index("exact", kb["id"].tolist(), np.load("data/embeddings/vectors.npy"), {}, read_csr(TERMS))
    texts = queries["query"].tolist()
    _, scores = exact.search_scored(encoder.encode(texts), 10, encoder.query_terms(texts), encoder.dense_weight)
    measured = abstention_metrics(answered(scores[:, 0], 1.0), queries["kb_id"].notna().to_numpy())
    assert metrics["abstention"] == {name: round(value, 6) for name, value in measured.items()}
    assert 0 < metrics["abstention"]["recall"] < 1  # some unanswerable queries score below 1.0, not all
    timing = read_json("metrics/index_timing.json")["index_timing"]
    assert list(timing) == ["p50_ms", "p95_ms"] and 0 < timing["p50_ms"] <= timing["p95_ms"]
    assert capsys.readouterr().out == "index: exact index of 35 vectors, recall@10 vs exact = 1.0000 -> data/index\n"


def test_index_without_unanswerable_queries_reports_no_abstention(project):
    queries = read_csv("data/validated/queries.csv")
    write_csv(queries[queries["kb_id"].notna()], "data/validated/queries.csv")
    train_encoder.main()
    promote_candidate()
    embed.main()
    assert index.main() == 0
    assert "abstention" not in read_json("metrics/index.json")["index"]


def test_index_refuses_to_time_nothing(project):
    train_encoder.main()
    promote_candidate()
    embed.main()
    Path("data/validated/queries.csv").write_text("query,kb_id,slice\n")
    with pytest.raises(StageError, match=r"^index.latency_repeats must be at least 1 and there must be golden"):
        index.main()


class CountingIndex:
    """The real index, with a record of the searches it was asked for."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def search(self, queries, k, terms, dense_weight):
        self.calls.append((queries.copy(), k, None if terms is None else terms.toarray(), dense_weight))
        return self.inner.search(queries, k, terms, dense_weight)


def test_query_latency_times_every_query_once_per_repeat():
    import scipy.sparse as sp

    vectors = np.eye(4, dtype=np.float32)
    terms = sp.csr_matrix(np.eye(4, dtype=np.float32))
    spy = CountingIndex(build_index("exact", ["a", "b", "c", "d"], vectors, {}, terms))
    timing = index.query_latency_ms(spy, vectors[:3], terms[:3], 2, 0.4, repeats=2)
    assert len(spy.calls) == 6
    for n, (query, k, row, weight) in enumerate(spy.calls):
        assert np.array_equal(query, vectors[n % 3 : n % 3 + 1]) and np.array_equal(row, np.eye(4)[n % 3 : n % 3 + 1])
        assert (k, weight) == (2, 0.4)
    assert set(timing) == {"p50_ms", "p95_ms"} and 0 < timing["p50_ms"] <= timing["p95_ms"]
    dense = CountingIndex(build_index("exact", ["a", "b", "c", "d"], vectors, {}, None))
    index.query_latency_ms(dense, vectors[:2], None, 1, 1.0, repeats=1)
    assert [call[2] for call in dense.calls] == [None, None]


# ----------------------------------------------------------------------------- make tune-abstention, after evaluate
CASES = "query,expected,rank,top,answered,score\n"


def test_tune_abstention_writes_the_best_threshold_into_params(project, capsys):
    Path("metrics/evaluate/cases").mkdir(parents=True)
    Path(abstention.CASES).write_text(
        CASES + "q1,KB1,1,KB1,1,4.0\nq2,KB2,1,KB2,1,2.5\nq3,,0,KB3,1,0.5\nq4,,0,KB1,1,1.5\nq5,KB3,2,KB1,1,1.0\n"
    )
    before = Path("params.yaml").read_text()
    assert abstention.main() == 0
    scores, answerable = np.array([4.0, 2.5, 0.5, 1.5, 1.0]), [True, True, False, False, True]
    threshold = tune_abstention(scores, answerable)
    measured = abstention_metrics(answered(scores, threshold), answerable)
    assert capsys.readouterr().out == (
        f"tune-abstention: index.abstain_below = {threshold:.4f} in params.yaml (on 5 golden queries, 2 without an"
        f" answer: abstention precision {measured['precision']:.3f}, recall {measured['recall']:.3f})."
        " Run `dvc repro` to measure it.\n"
    )
    assert threshold == 2.0 and measured == {"precision": 2 / 3, "recall": 1.0}
    assert Path("params.yaml").read_text() == set_threshold(before, threshold)
    assert load_params()["index"]["abstain_below"] == 2.0


@pytest.mark.parametrize(
    ("cases", "message"),
    [
        (None, "metrics/evaluate/cases/queries.csv not found: run `dvc repro` first, so evaluate scores the golden"),
        ("query,expected,rank\nq1,KB1,1\n", "metrics/evaluate/cases/queries.csv has no score column: run `dvc repro`"),
        (CASES + "q1,KB1,1,KB1,1,4.0\n", "no golden query is without an answer: add questions the KB cannot answer"),
    ],
    ids=["no-cases", "no-score", "all-answerable"],
)
def test_tune_abstention_refuses_without_what_it_needs(project, capsys, cases, message):
    if cases is not None:
        Path("metrics/evaluate/cases").mkdir(parents=True)
        Path(abstention.CASES).write_text(cases)
    before = Path("params.yaml").read_text()
    assert abstention.main() == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"tune-abstention: {message}") and err.count("\n") == 1
    assert Path("params.yaml").read_text() == before


def test_tune_abstention_checks_params_before_anything(project, capsys):
    Path("params.yaml").write_text(Path("params.yaml").read_text().replace("latency_repeats: 2", "latency_repeats: x"))
    with pytest.raises(StageError, match="^params.yaml: index.latency_repeats must be an integer"):
        abstention.tune()
