"""The HTTP service on a small model set and index built here (FastAPI's TestClient runs the lifespan)."""

import json
import logging
import shutil

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.embeddings import embed_texts
from {{ cookiecutter.package_name }}.encoders import Encoder, build_encoder
from {{ cookiecutter.package_name }}.models import load_model, save_model
from {{ cookiecutter.package_name }}.modelset import file_hashes, install, part_version
from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.serve import LIMITS, LOG, app, main, one_line
from {{ cookiecutter.package_name }}.stages.index import save_index
from {{ cookiecutter.package_name }}.stages.train_classifier import build_classifier
from {{ cookiecutter.package_name }}.vector_index import build_index

KB = {
    "KB1": ("Refunds for duplicate charges", "If you were charged twice, we refund the duplicate payment."),
    "KB2": ("Reset your password", "Use the reset link; check spam if the password email never arrives."),
    "KB3": ("Track a parcel", "Tracking updates within a day; contact us if the parcel has not arrived."),
}


@pytest.fixture
def served(tmp_path, monkeypatch, texts, labels):
    """A production model set and its index in `tmp_path`, as the pipeline would leave them."""
    params = load_params()
    candidate, production, index_dir = tmp_path / "candidate", tmp_path / "production", tmp_path / "index"
    candidate.mkdir()
    classifier = build_classifier({**params["classifier"], "min_df": 1}).fit(texts, labels)
    save_model(classifier, candidate / "classifier.skops")
    documents = [f"{title}. {body}" for title, body in KB.values()]
    encoder_params = params["encoder"]
    encoder_params["tfidf_svd"] = {**encoder_params["tfidf_svd"], "n_components": 2, "stop_words": False}
    build_encoder("tfidf-svd", documents, encoder_params, candidate / "encoder", extra_texts=texts)
    manifest = install(candidate, production, file_hashes(candidate))
    embedded = embed_texts(Encoder(production / "encoder"), documents, tmp_path / "cache")
    index = build_index("exact", list(KB), embedded.vectors, {}, embedded.terms)
    titles = [title for title, _ in KB.values()]
    save_index(index, titles, part_version(manifest["files"], "encoder"), index_dir)
    monkeypatch.setenv("MODEL_DIR", str(production))
    monkeypatch.setenv("INDEX_DIR", str(index_dir))
    return production, index_dir, manifest


def test_predict_search_and_version(served, texts):
    production, _, manifest = served
    classifier = load_model(production / "classifier.skops")
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ready").json() == {"status": "ready", "model_version": manifest["version"]}
        answer = client.post("/predict", json={"text": texts[0]}).json()
        assert answer["label"] == classifier.predict([texts[0]])[0]
        assert answer["model_version"] == manifest["version"]
        assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        batch = client.post("/predict/batch", json={"texts": texts}).json()
        assert [p["label"] for p in batch["predictions"]] == classifier.predict(texts).tolist()
        results = client.post("/search", json={"query": "reset my password", "k": 2}).json()["results"]
        assert [r["id"] for r in results][0] == "KB2" and len(results) == 2
        assert results[0]["title"] == "Reset your password" and results[0]["score"] >= results[1]["score"]
        version = client.get("/version").json()
        assert version["files"] == manifest["files"] and version["index"]["size"] == len(KB)


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/predict", "{not json", 400, "not valid JSON"),
        ("/predict", "{}", 422, "text: Field required"),
        ("/predict", '{"text": ""}', 422, "text: String should have at least 1 character"),
        ("/predict", '{"text": "   "}', 422, "must not be empty"),
        ("/predict", '{"text": 42}', 422, "text: Input should be a valid string"),
        ("/predict", '["a list"]', 422, "must be a JSON object"),
        ("/predict", json.dumps({"text": "x" * (LIMITS.max_text_length + 1)}), 422, "at most"),
        ("/predict/batch", '{"texts": []}', 422, "texts: List should have at least 1 item"),
        ("/predict/batch", json.dumps({"texts": ["a"] * (LIMITS.max_batch_size + 1)}), 422, "at most"),
        ("/search", '{"query": "refund", "k": 0}', 422, "k: Input should be greater than or equal to 1"),
        ("/search", json.dumps({"query": "refund", "k": LIMITS.max_k + 1}), 422, "k: Input should be less than"),
        ("/search", '{"query": "refund", "k": "5"}', 422, "k: Input should be a valid integer"),
    ],
)
def test_bad_requests_get_a_short_4xx(served, path, body, status, message):
    with TestClient(app) as client:
        answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    assert message in answer.json()["detail"] and "Traceback" not in answer.text


def test_request_id_is_echoed_or_generated(served):
    with TestClient(app) as client:
        assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
        generated = client.get("/health", headers={"X-Request-ID": "bad id\t"}).headers["X-Request-ID"]
    assert len(generated) == 32 and generated != "bad id\t"


def test_not_ready_with_the_reason_when_a_model_file_is_missing(served):
    production, _, _ = served
    (production / "classifier.skops").unlink()
    with TestClient(app) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503 and "classifier.skops missing" in ready.json()["reason"]
        assert client.post("/predict", json={"text": "hello"}).status_code == 503
        assert client.get("/health").status_code == 200


def test_an_index_of_another_encoder_is_refused(served):
    _, index_dir, _ = served
    (index_dir / "source.json").write_text('{"encoder": "0123456789ab"}')
    with TestClient(app) as client:
        assert "index built with another encoder" in client.get("/ready").json()["reason"]


@pytest.fixture
def candidate(served, tmp_path, texts, labels):
    """A second model set beside production: another classifier, the same encoder (so the same index)."""
    production, index_dir, manifest = served
    source, target = tmp_path / "candidate-source", tmp_path / "candidate-set"
    source.mkdir()
    classifier = build_classifier({**load_params()["classifier"], "min_df": 1}).fit(texts, labels[::-1])
    save_model(classifier, source / "classifier.skops")
    shutil.copytree(production / "encoder", source / "encoder")
    candidate_manifest = install(source, target, file_hashes(source))
    assert candidate_manifest["version"] != manifest["version"]
    return target, index_dir, candidate_manifest


@pytest.mark.parametrize(("percent", "side"), [("100", "candidate"), ("0", "production")])
def test_canary_answers_from_the_side_its_share_gives(candidate, monkeypatch, percent, side):
    target, index_dir, candidate_manifest = candidate
    monkeypatch.setenv("ROLLOUT_MODE", "canary")
    monkeypatch.setenv("CANDIDATE_DIR", str(target))
    monkeypatch.setenv("CANDIDATE_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("CANARY_PERCENT", percent)
    with TestClient(app) as client:
        production_version = client.get("/ready").json()["model_version"]
        answers = [
            client.post("/predict", json={"text": "refund please"}).json(),
            client.post("/predict/batch", json={"texts": ["a", "b"]}).json(),
            client.post("/search", json={"query": "password", "k": 1}).json(),
        ]
        rollout = client.get("/version").json()["rollout"]
    version = candidate_manifest["version"] if side == "candidate" else production_version
    assert [(a["served_by"], a["model_version"]) for a in answers] == [(side, version)] * 3
    assert rollout == {
        "mode": "canary",
        "canary_percent": float(percent),
        "candidate_version": candidate_manifest["version"],
        "candidate_error": None,
    }


def test_shadow_answers_from_production_and_logs_the_candidate(candidate, monkeypatch, tmp_path):
    target, index_dir, candidate_manifest = candidate
    log = tmp_path / "decisions.jsonl"
    for name, value in {"ROLLOUT_MODE": "shadow", "CANDIDATE_DIR": target, "DECISION_LOG": log}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("CANDIDATE_INDEX_DIR", str(index_dir))
    with TestClient(app) as client:
        answer = client.post("/predict", json={"text": "refund please"}, headers={"X-Request-ID": "r-1"}).json()
        version = client.get("/ready").json()["model_version"]
    records = [json.loads(line) for line in log.read_text().splitlines()]  # the lifespan's end flushed the log
    assert answer["served_by"] == "production" and answer["model_version"] == version
    assert [(r["request_id"], r["served_by"]) for r in records] == [("r-1", "production")]
    assert records[0]["production"]["answer"] == {"labels": [answer["label"]]}
    assert records[0]["candidate"]["version"] == candidate_manifest["version"] and "answer" in records[0]["candidate"]


def test_a_bad_rollout_setting_keeps_ready_at_503(served, monkeypatch):
    monkeypatch.setenv("ROLLOUT_MODE", "blue-green")
    with TestClient(app) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["reason"].startswith("ROLLOUT_MODE must be one of")


def test_a_broken_candidate_leaves_production_serving(served, monkeypatch, tmp_path):
    monkeypatch.setenv("ROLLOUT_MODE", "canary")
    monkeypatch.setenv("CANDIDATE_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("CANARY_PERCENT", "100")
    with TestClient(app) as client:
        answer = client.post("/predict", json={"text": "refund please"}).json()
        rollout = client.get("/version").json()["rollout"]
    assert answer["served_by"] == "production" and rollout["mode"] == "off"
    assert rollout["candidate_error"].startswith("candidate: ") and rollout["candidate_version"] is None


def test_reload_needs_the_token_and_switches_production(candidate, monkeypatch):
    target, index_dir, candidate_manifest = candidate
    body = {"model_dir": str(target), "index_dir": str(index_dir)}
    with TestClient(app) as client:
        off = client.post("/admin/reload", json=body)
        assert off.status_code == 403 and off.json()["detail"] == "reload is off: the service has no ADMIN_TOKEN"
    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")
    with TestClient(app) as client:
        before = client.get("/ready").json()["model_version"]
        wrong = client.post("/admin/reload", json=body, headers={"Authorization": "Bearer s3cre"})
        assert wrong.status_code == 403 and "wrong or missing token" in wrong.json()["detail"]
        assert client.post("/admin/reload", json=body).status_code == 403
        admin = {"Authorization": "Bearer s3cret"}
        bad = client.post("/admin/reload", json={"model_dir": str(index_dir)}, headers=admin)
        assert bad.status_code == 409 and bad.json()["detail"].startswith("not reloaded, production unchanged: ")
        assert client.get("/ready").json()["model_version"] == before
        switched = client.post("/admin/reload", json=body, headers=admin)
        assert switched.json() == {"model_version": candidate_manifest["version"], "previous": before}
        assert client.post("/predict", json={"text": "hi"}).json()["model_version"] == candidate_manifest["version"]
        back = client.post("/admin/reload", headers=admin)  # MODEL_DIR again
        assert back.json() == {"model_version": before, "previous": candidate_manifest["version"]}


def test_search_answers_no_answer_below_the_index_threshold(served):
    _, index_dir, manifest = served
    source = json.loads((index_dir / "source.json").read_text())
    query = {"query": "reset my password", "k": 3}

    def search(abstain_below):
        (index_dir / "source.json").write_text(json.dumps({**source, "abstain_below": abstain_below}))
        with TestClient(app) as client:
            return client.post("/search", json=query).json()

    answered = search(-100.0)
    top = answered["results"][0]["score"]
    assert answered["answer"] is True and len(answered["results"]) == 3
    assert search(top - 1e-4)["answer"] is True
    assert search(top + 1e-4) == {
        "results": [],
        "answer": False,
        "model_version": manifest["version"],
        "served_by": "production",
    }


def test_check_says_whether_the_service_could_start(served, tmp_path, monkeypatch, capsys):
    _, _, manifest = served
    assert main(["--check"]) == 0
    assert capsys.readouterr() == (f"serve: ready: model set {manifest['version']}, 3 articles (exact)\n", "")
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "nothing"))
    assert main(["--check"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("serve: not ready: ") and err.count("\n") == 1 and "nothing" in err


def test_one_line_keeps_the_first_line_or_names_the_error():
    assert one_line(ValueError("first\nsecond")) == "first"
    assert one_line(ValueError("  \n")) == "ValueError"


@pytest.fixture
def request_log(caplog, monkeypatch):
    """The service's log records. Its logger does not propagate once the service has started in this process
    (it has its own handler), so the capture handler is attached to it directly."""
    caplog.set_level(logging.INFO, logger=LOG.name)
    monkeypatch.setattr(LOG, "propagate", False)
    LOG.addHandler(caplog.handler)
    yield caplog
    LOG.removeHandler(caplog.handler)


def test_each_request_is_one_json_log_line_with_its_id(served, monkeypatch, request_log):
    _, _, manifest = served
    caplog = request_log
    monkeypatch.setenv("GIT_COMMIT", "0123abc")
    with TestClient(app) as client:
        assert client.get("/version").json()["git_commit"] == "0123abc"
        caplog.clear()
        answer = client.get("/health", headers={"X-Request-ID": "req-1"})
        assert answer.headers["x-request-id"] == "req-1"
        bad = client.get("/health", headers={"X-Request-ID": "no spaces allowed"}).headers["x-request-id"]
        client.post("/predict", json={"text": "my card was charged twice"})
    lines = [json.loads(record.getMessage()) for record in caplog.records]
    lines = [line for line in lines if line["event"] == "request"]  # not the shutdown line
    first = lines[0]
    assert {key: first[key] for key in ("event", "method", "path", "status", "model_version", "request_id")} == {
        "event": "request",
        "method": "GET",
        "path": "/health",
        "status": 200,
        "model_version": manifest["version"],
        "request_id": "req-1",
    }
    assert 0 <= first["latency_ms"] < 60_000 and first["time"].endswith("+00:00")
    assert len(bad) == 32 and lines[1]["request_id"] == bad  # a new id replaces one that is not plain text
    assert "text" not in lines[-1] and lines[-1]["path"] == "/predict"


@pytest.mark.parametrize(("value", "logged"), [("1", True), ("TRUE", True), ("yes", True), ("no", False)])
def test_ticket_text_is_logged_only_when_asked(served, monkeypatch, request_log, value, logged):
    monkeypatch.setenv("LOG_REQUEST_TEXT", value)
    caplog = request_log
    with TestClient(app) as client:
        caplog.clear()
        client.post("/predict", json={"text": "my card was charged twice"})
    request = [json.loads(r.getMessage()) for r in caplog.records if '"event": "request"' in r.getMessage()][-1]
    assert request.get("text") == ("my card was charged twice" if logged else None)
