"""The generated service, started as a user starts it (`python -m <package>.serve`) and called over HTTP.

Every server listens on 127.0.0.1 and a free port; waits are bounded and every
process is stopped, whatever the test's outcome.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
import skops.io as sio
from conftest import DEFAULT_PACKAGE, bake, base_env, run
from sklearn.preprocessing import FunctionTransformer

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("reproduced")]

START_TIMEOUT = 60  # seconds for a server to answer /health


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(project: Path, log: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m <package>.serve` on 127.0.0.1; yields its base URL and process once /health answers."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", f"{DEFAULT_PACKAGE}.serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project,
            env={**base_env(), "PYTHONPATH": str(project / "src"), **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"the server exited {process.returncode}:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no answer from {url} in {START_TIMEOUT} s:\n{log.read_text()}"
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def served(reproduced, tmp_path_factory) -> Iterator[tuple[Path, str, Path]]:
    """The reproduced default project served; its project folder, URL and log file."""
    project, _ = reproduced
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with server(project, log) as (url, _):
        yield project, url, log


def project_python(project: Path, code: str) -> str:
    """Run `code` with the project's own package (the test process never imports it)."""
    return run([sys.executable, "-c", code], project).stdout


def test_predict_agrees_with_the_promoted_classifier_on_the_test_split(served):
    project, url, _ = served
    texts = pd.read_csv(project / "data/split/test.csv")["text"].tolist()
    expected = json.loads(
        project_python(
            project,
            f"import json, pandas; from {DEFAULT_PACKAGE}.models import load_model; "
            "model = load_model('models/production/classifier.skops'); "
            "print(json.dumps(model.predict(pandas.read_csv('data/split/test.csv')['text']).tolist()))",
        )
    )
    manifest = json.loads((project / "models/production/manifest.json").read_text())
    labels = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(texts), 64):  # serve.max_batch_size
            answer = client.post("/predict/batch", json={"texts": texts[start : start + 64]})
            assert answer.status_code == 200 and answer.json()["model_version"] == manifest["version"]
            labels += [p["label"] for p in answer.json()["predictions"]]
        single = client.post("/predict", json={"text": texts[0]}).json()
    assert len(texts) == 400 and labels == expected
    assert single["label"] == expected[0] and single["model_version"] == manifest["version"]
    assert max(single["probabilities"], key=single["probabilities"].get) == single["label"]
    assert sum(single["probabilities"].values()) == pytest.approx(1, abs=1e-4)


def test_search_reaches_the_pipelines_own_recall_at_5(served):
    project, url, _ = served
    queries = pd.read_csv(project / "data/validated/queries.csv", dtype=str, keep_default_na=False)
    kb = pd.read_csv(project / "data/validated/kb.csv", dtype=str).set_index("id")
    measured = json.loads((project / "metrics/evaluate/metrics.json").read_text())["retrieval"]["recall_at_5"]
    hits = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for query, expected in zip(queries["query"], queries["kb_id"], strict=True):
            body = client.post("/search", json={"query": query, "k": 5}).json()
            results = body["results"]
            assert body["answer"] is True  # the shipped threshold, 0, answers every query
            assert len(results) == 5 and all(kb.loc[r["id"], "title"] == r["title"] for r in results)
            assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
            hits += expected in [r["id"] for r in results]
    answerable = int((queries["kb_id"] != "").sum())  # recall@5 counts the queries the KB can answer
    assert answerable < len(queries)
    assert round(hits / answerable, 6) >= measured > 0.7  # metrics are rounded to 6 digits


BAD_REQUESTS = {
    "malformed-json": ("/predict", "{not json", 400, "the request body is not valid JSON"),
    "missing-text": ("/predict", "{}", 422, "text: Field required"),
    "empty-text": ("/predict", '{"text": ""}', 422, "text: String should have at least 1 character"),
    "blank-text": ("/predict", '{"text": " \\n "}', 422, "text: Value error, must not be empty or only whitespace"),
    "non-string-text": ("/predict", '{"text": ["a"]}', 422, "text: Input should be a valid string"),
    "not-an-object": ("/predict", '"text"', 422, "the request body must be a JSON object"),
    "too-long": ("/predict", json.dumps({"text": "x" * 5001}), 422, "text: String should have at most 5000 characters"),
    "batch-too-large": (
        "/predict/batch",
        json.dumps({"texts": ["a"] * 65}),
        422,
        "texts: List should have at most 64 items after validation, not 65",
    ),
    "batch-with-a-number": ("/predict/batch", '{"texts": ["a", 3]}', 422, "texts.1: Input should be a valid string"),
    "k-zero": ("/search", '{"query": "refund", "k": 0}', 422, "k: Input should be greater than or equal to 1"),
    "k-too-large": ("/search", '{"query": "refund", "k": 51}', 422, "k: Input should be less than or equal to 50"),
    "k-not-an-integer": ("/search", '{"query": "refund", "k": 2.5}', 422, "k: Input should be a valid integer"),
    "missing-query": ("/search", '{"k": 3}', 422, "query: Field required"),
}


def test_every_bad_request_gets_its_4xx_with_a_clear_message(served):
    _, url, log = served
    with httpx.Client(base_url=url, timeout=30) as client:
        for name, (path, body, status, message) in BAD_REQUESTS.items():
            answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
            assert (answer.status_code, answer.json()) == (status, {"detail": message}), name
        assert client.get("/no-such-page").status_code == 404
    assert "Traceback" not in log.read_text()


def test_health_version_request_ids_and_one_json_log_line_per_request(served):
    project, url, log = served
    manifest = json.loads((project / "models/production/manifest.json").read_text())
    head = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    secret_text = "my card number is 4111 1111 1111 1111"
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ready").json() == {"status": "ready", "model_version": manifest["version"]}
        version = client.get("/version").json()
        answer = client.post("/predict", json={"text": secret_text}, headers={"X-Request-ID": "req-42"})
        generated = client.get("/health").headers["X-Request-ID"]
        docs = client.get("/openapi.json").json()
    assert version["model_version"] == manifest["version"] and version["files"] == manifest["files"]
    assert version["git_commit"] == head and version["index"] == {"backend": "exact", "size": 35, "hybrid": True}
    assert answer.headers["X-Request-ID"] == "req-42" and len(generated) == 32
    examples = docs["components"]["schemas"]["PredictRequest"]["examples"]
    assert examples and set(docs["paths"]) >= {"/predict", "/predict/batch", "/search", "/ready", "/version"}
    time.sleep(0.2)  # the log line is written once the response is sent
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (logged,) = [line for line in lines if line.get("request_id") == "req-42"]
    assert logged["method"] == "POST" and logged["path"] == "/predict" and logged["status"] == 200
    assert logged["model_version"] == manifest["version"] and logged["latency_ms"] > 0
    assert secret_text not in log.read_text()  # ticket text is not logged unless LOG_REQUEST_TEXT is set


def test_make_smoke_passes_against_the_server_and_fails_against_a_broken_one(served, reproduced_copy, tmp_path):
    project, url, _ = served
    result = run(["make", "smoke", f"URL={url}", f"PYTHON={sys.executable}"], project)
    assert "smoke test passed" in result.stdout and result.stdout.count("ok   ") == 4
    (reproduced_copy / "models/production/classifier.skops").unlink()
    with server(reproduced_copy, tmp_path / "broken.log") as (broken, _):
        failed = run([sys.executable, "scripts/smoke.py", broken, "--wait", "1"], reproduced_copy, check=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith("FAIL /ready: not ready after 1 s (503 models/production is not a complete")
    assert "classifier.skops missing" in failed.stderr


def rewrite_manifest(folder: Path) -> None:
    """Make the manifest name the files as they are now, as a tampered but consistent model set would."""
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = {path: hashlib.sha256((folder / path).read_bytes()).hexdigest() for path in manifest["files"]}
    manifest_path.write_text(json.dumps(manifest))


BROKEN_SETS = {
    "missing-file": (lambda m: (m / "classifier.skops").unlink(), "classifier.skops missing"),
    "pickle-renamed": (
        lambda m: ((m / "classifier.skops").write_bytes(pickle.dumps({"model": 1})), rewrite_manifest(m)),
        "classifier.skops is not a skops model file",
    ),
    "untrusted-type": (
        lambda m: ((m / "classifier.skops").write_bytes(sio.dumps(FunctionTransformer(print))), rewrite_manifest(m)),
        "contains types that are not trusted: builtins.print",
    ),
    "changed-file": (
        lambda m: (m / "encoder" / "encoder.json").write_text('{"backend": "tfidf-svd"}'),
        "encoder.json is not the file the manifest names (its content changed)",
    ),
}


def test_a_broken_model_set_keeps_ready_at_503_with_the_reason(reproduced_copy, tmp_path):
    """`--check` says why in one line and exits 1; the server stays up, /ready and the model endpoints at 503."""
    project = reproduced_copy
    production = project / "models/production"
    pristine = tmp_path / "pristine"
    run(["cp", "-a", production, pristine], project)
    check = [sys.executable, "-m", f"{DEFAULT_PACKAGE}.serve", "--check"]
    assert run(check, project).stdout.startswith("serve: ready: model set ")
    for name, (damage, reason) in BROKEN_SETS.items():
        run(["rm", "-rf", production], project)
        run(["cp", "-a", pristine, production], project)
        damage(production)
        result = run(check, project, check=False)
        assert result.returncode == 1, name
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("serve: not ready: "), result.stderr
        assert reason in result.stderr, (name, result.stderr)
        if name in ("missing-file", "untrusted-type"):
            with server(project, tmp_path / f"{name}.log") as (url, _):
                ready = httpx.get(f"{url}/ready", timeout=10)
                assert ready.status_code == 503 and reason in ready.json()["reason"]
                assert httpx.post(f"{url}/predict", json={"text": "refund"}, timeout=10).status_code == 503
                assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_an_index_built_with_another_encoder_is_refused(reproduced_copy):
    (reproduced_copy / "data/index/source.json").write_text('{"encoder": "0123456789ab"}')
    result = run([sys.executable, "-m", f"{DEFAULT_PACKAGE}.serve", "--check"], reproduced_copy, check=False)
    assert result.returncode == 1 and "index built with another encoder" in result.stderr
    assert "run dvc repro" in result.stderr


def test_a_request_in_flight_when_sigterm_arrives_completes(served, tmp_path):
    """The request's headers and part of its body are sent, then SIGTERM, then the rest: it is still answered."""
    project, _, _ = served
    with server(project, tmp_path / "sigterm.log", LOG_REQUEST_TEXT="true") as (url, process):
        port = int(url.rsplit(":", 1)[1])
        body = json.dumps({"text": "I was charged twice for my subscription"}).encode()
        with closing(socket.create_connection(("127.0.0.1", port), timeout=30)) as connection:
            connection.sendall(
                b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:10]
            )
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None  # still waiting for the request in flight
            connection.sendall(body[10:])
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 200 OK" and b'"label":"billing"' in rest
    log = (tmp_path / "sigterm.log").read_text()
    assert '"event": "shutdown"' in log
    assert '"text": "I was charged twice for my subscription"' in log  # LOG_REQUEST_TEXT=true logs the text


def test_serving_none_bakes_no_service_and_its_tests_pass(tmp_path):
    project = bake(tmp_path, serving="none", ci_provider="github")
    files = set(run(["git", "ls-files"], project).stdout.split())
    assert not {"Dockerfile", ".dockerignore", "scripts/smoke.py", "tests/test_serve.py"} & files
    assert f"src/{DEFAULT_PACKAGE}/serve.py" not in files
    text = "\n".join((project / name).read_text() for name in ("Makefile", "params.yaml", "pyproject.toml"))
    assert "serve" not in text and "fastapi" not in text and "docker" not in text.lower()
    workflow = (project / ".github/workflows/ci.yml").read_text()
    assert "docker" not in workflow and "packages: write" not in workflow
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_the_serving_benchmark_measures_every_endpoint_over_http_and_in_process(reproduced, tmp_path):
    """A tiny run of benchmarks/serving.py (`make bench` runs it in full): every figure, the JSON, the plot, the doc."""
    project, _ = reproduced
    doc = tmp_path / "benchmarks.md"
    doc.write_text("before\n<!-- serving:start -->\nold\n<!-- serving:end -->\nafter\n")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "serving.py"
    command = [sys.executable, script, "--project", project, "--requests", "20", "--seconds", "2"]
    run([*command, "--out", tmp_path, "--doc", doc], tmp_path)
    results = json.loads((tmp_path / "serving.json").read_text())
    http = [row for row in results["http"] if row["endpoint"] != "memory"]
    assert {(r["endpoint"], r["workers"], r["in_flight"]) for r in http} == {
        (endpoint, workers, in_flight)
        for endpoint in ("predict", "predict_batch", "search")
        for workers in (1, 2)
        for in_flight in (1, 16)
    }
    assert all(r["n"] >= 1 and r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] and r["rps"] > 0 for r in http)
    assert set(results["in_process"]) == {"predict", "predict_batch", "search"}
    assert all(r["rss_mib"] > 50 for r in results["http"] if r["endpoint"] == "memory")
    assert (tmp_path / "serving.png").stat().st_size > 10_000
    text = doc.read_text()
    assert text.startswith("before\n<!-- serving:start -->\nDefault bake (35 KB articles)") and "old" not in text
    assert text.endswith("<!-- serving:end -->\nafter\n") and "| /predict/batch | HTTP | 2 | 16 |" in text
