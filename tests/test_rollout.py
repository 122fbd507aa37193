"""Staged rollout in a baked project: versions in real git tags, two versions behind one real server.

- register, stage, deprecate, roll back, fetch: every answer of the project's
  registry is checked against GTO's own reading of the same tags (`gto show`,
  installed with dvc), including after a removal tag, where `dvc artifacts get
  --stage` would take the newest tag of the stage;
- canary, shadow, the decision log, `rollout replay` and `rollout decide`, and a
  reload under load, on servers started on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import DEFAULT_PACKAGE, TEMPLATE_DIR, commit, repro, run, set_param
from test_serving import server

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("reproduced")]

REGISTRY = [sys.executable, "-m", f"{DEFAULT_PACKAGE}.registry"]
ROLLOUT = [sys.executable, "-m", f"{DEFAULT_PACKAGE}.rollout"]
CHANGES = [("  C: 4.0\n", "  C: 2.0\n"), ("  C: 2.0\n", "  C: 8.0\n")]  # two more candidates that clear the floors


TAGGING = {"register", "assign", "deprecate", "rollback"}


def registry(project: Path, *args: str, code: int = 0) -> str:
    if args and args[0] in TAGGING:
        # GTO orders events by the tag's date, in whole seconds, and breaks a tie within one second
        # arbitrarily (the registry breaks it by the tag counter): start each tag in a second of its own,
        # so that the cross-check with `gto show` compares the rule, not the tie.
        time.sleep(1 - time.time() % 1 + 0.01)
    result = run([*REGISTRY, *args], project, check=False)
    assert result.returncode == code, f"registry {args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def stages(project: Path) -> dict[str, str | None]:
    return json.loads(registry(project, "show", "--json"))["stages"]


def gto_stages(project: Path) -> dict[str, str]:
    shown = json.loads(run(["gto", "show", "--json"], project).stdout)
    return shown["model-set"]["stage"]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.fixture(scope="module")
def registered(reproduced, tmp_path_factory) -> tuple[Path, list[dict]]:
    """Three promoted model sets, each committed, registered (v1.0.0, v1.1.0, v1.2.0) and pushed; their manifests."""
    source, _ = reproduced
    base = tmp_path_factory.mktemp("registered")
    project = base / source.name
    shutil.copytree(source, project, symlinks=True)
    run(["dvc", "remote", "add", "-f", "-d", "local", str(base / "dvc-storage")], project)
    uncommitted = registry(project, "register", code=1)  # `dvc repro` wrote dvc.lock, nobody committed it
    assert "registry: dvc.lock, dvc.yaml or params.yaml has uncommitted changes: commit them first" in uncommitted
    manifests = []
    for change in [None, *CHANGES]:
        if change:
            set_param(project, *change)
            repro(project)
        commit(project, f"Model set {len(manifests) + 1}")
        manifests.append(manifest(project / "models/production"))
        registry(project, "register")
        run(["dvc", "push", "-q"], project)
    return project, manifests


@pytest.fixture
def versions(registered, tmp_path) -> tuple[Path, list[dict]]:
    """A private copy of `registered` to add tags to."""
    source, manifests = registered
    project = tmp_path / source.name
    shutil.copytree(source, project, symlinks=True)
    return project, manifests


def test_register_assign_deprecate_and_roll_back_with_real_tags(versions, tmp_path):
    project, manifests = versions
    assert len({m["version"] for m in manifests}) == 3
    shown = json.loads(registry(project, "show", "--json"))
    assert [row["version"] for row in shown["versions"]] == ["v1.2.0", "v1.1.0", "v1.0.0"]
    assert [row["model_set"] for row in shown["versions"]] == [m["version"] for m in reversed(manifests)]
    message = run(["git", "tag", "-l", "--format=%(contents)", "model-set@v1.0.0"], project).stdout
    assert message.startswith(f"Register model-set v1.0.0: model set {manifests[0]['version']}")

    # the same model set twice, or prod before staging, is refused
    assert "is already model-set v1.2.0" in registry(project, "register", code=1)
    refused = registry(project, "assign", "v1.0.0", "prod", code=1)
    assert "registry: model-set v1.0.0 was never in staging" in refused
    assert stages(project) == {"staging": None, "prod": None}

    for version in ("v1.0.0", "v1.1.0", "v1.2.0"):
        registry(project, "assign", version, "staging")
        registry(project, "assign", version, "prod")
        assert stages(project) == {"staging": version, "prod": version} and gto_stages(project) == stages(project)

    # a removal tag is now the newest tag of prod: GTO's reading (and ours) falls back to v1.1.0
    registry(project, "deprecate", "v1.2.0", "prod")
    newest = run(["git", "tag", "-l", "model-set#prod*", "--sort=-creatordate", "--sort=-refname"], project)
    assert "model-set#prod!#" in newest.stdout
    assert stages(project) == {"staging": "v1.2.0", "prod": "v1.1.0"} == gto_stages(project)
    assert registry(project, "which", "prod").strip() == "v1.1.0"

    # rollback: v1.1.0 out, v1.0.0 in, in one step; the newest prod tag now names v1.0.0 too
    assert "prod is model-set v1.0.0 again" in registry(project, "rollback")
    assert stages(project)["prod"] == "v1.0.0" == gto_stages(project)["prod"]
    v1_commit = run(["git", "rev-list", "-n", "1", "model-set@v1.0.0"], project).stdout.strip()
    assert registry(project, "which", "prod", "--commit").strip() == v1_commit
    assert "nothing to roll back to" in registry(project, "rollback", code=1)
    assert stages(project)["prod"] == "v1.0.0"

    # deregistering a version removes it from every stage
    registry(project, "deprecate", "v1.2.0")
    assert stages(project) == {"staging": "v1.1.0", "prod": "v1.0.0"} == gto_stages(project)
    assert "v1.2.0" not in [row["version"] for row in json.loads(registry(project, "show", "--json"))["versions"]]

    # a fresh clone fetches prod's files from git and the DVC remote, byte for byte what was registered
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    registry(clone, "fetch", "prod", "--out", str(tmp_path / "prod"))
    assert manifest(tmp_path / "prod") == manifests[0]
    assert (tmp_path / "prod/index/source.json").is_file()
    assert "is not empty" in registry(clone, "fetch", "v1.1.0", "--out", str(tmp_path / "prod"), code=1)


def test_fetch_refuses_files_that_are_not_the_registered_ones(versions, tmp_path):
    project, manifests = versions
    # a registration whose recorded hashes are not those of the model set at its commit
    forged = {**manifests[1], "version": "000000000000"}
    message = f"Register model-set v9.0.0: model set 000000000000\n\n{json.dumps(forged)}\n"
    run(["git", "tag", "-a", "-m", message, "model-set@v9.0.0", "HEAD~1"], project)
    out = tmp_path / "v9"
    assert "is not the model set registered as v9.0.0" in registry(
        project, "fetch", "v9.0.0", "--out", str(out), code=1
    )
    assert "no version v3.0.0" in registry(project, "fetch", "v3.0.0", "--out", str(tmp_path / "x"), code=1)
    shutil.rmtree(out)
    registry(project, "fetch", "v1.1.0", "--out", str(out))
    assert manifest(out) == manifests[1]
    # an index changed by hand is not what dvc.lock records: no version of it
    titles = project / "data/index/titles.json"
    titles.unlink()
    titles.write_text("[]")
    refused = registry(project, "register", "--version", "v5.0.0", code=1)
    assert "the workspace differs from dvc.lock (index)" in refused


def test_make_shortcuts_pass_versions_as_data(versions):
    project, _ = versions
    hostile = 'v1.0.0"; touch pwned; echo "'
    result = run(["make", "assign", f"VERSION={hostile}", "STAGE=staging"], project, check=False)
    assert result.returncode != 0 and "has no version" in result.stderr
    assert not (project / "pwned").exists()
    run(["make", "assign", "VERSION=v1.0.0", "STAGE=staging"], project)
    assert "model-set  (staging: v1.0.0, prod: -)" in run(["make", "versions"], project).stdout


# --- the service runs two versions --------------------------------------------------------------

WEAK_CANDIDATE = """
import shutil, sys
from pathlib import Path
import pandas
from {pkg}.modelset import file_hashes, install
from {pkg}.models import save_model
from {pkg}.params import load_params
from {pkg}.stages.train_classifier import build_classifier

out, c = Path(sys.argv[1]), float(sys.argv[2])
source = out.with_name(out.name + ".src")
source.mkdir(parents=True)
train = pandas.read_csv("data/split/train.csv")
classifier = build_classifier({{**load_params()["classifier"], "C": c}}).fit(train.text, train.label)
save_model(classifier, source / "classifier.skops")
shutil.copytree("models/production/encoder", source / "encoder")
install(source, out, file_hashes(source))
shutil.copytree("data/index", out / "index")
"""


@pytest.fixture(scope="module")
def candidates(reproduced, tmp_path_factory) -> dict[str, Path]:
    """Model sets beside production: `same` (its copy), `weak` (a classifier with C=0.0001), each with the index."""
    project, _ = reproduced
    base = tmp_path_factory.mktemp("candidates")
    same = base / "same"
    shutil.copytree(project / "models/production", same)
    shutil.copytree(project / "data/index", same / "index")
    weak = base / "weak"
    run([sys.executable, "-c", WEAK_CANDIDATE.format(pkg=DEFAULT_PACKAGE), str(weak), "0.0001"], project)
    return {"same": same, "weak": weak}


def served_by(client: httpx.Client, request_id: str, **body: str) -> tuple[str, str]:
    answer = client.post("/predict", json={"text": "I was charged twice", **body}, headers={"X-Request-ID": request_id})
    assert answer.status_code == 200, answer.text
    return answer.json()["served_by"], answer.json()["model_version"]


def test_canary_sends_its_share_to_the_candidate_sticky_per_id(reproduced, candidates, tmp_path):
    project, _ = reproduced
    production = manifest(project / "models/production")["version"]
    weak = manifest(candidates["weak"])["version"]
    env = {"ROLLOUT_MODE": "canary", "CANDIDATE_DIR": str(candidates["weak"]), "CANARY_PERCENT": "20"}
    with server(project, tmp_path / "canary.log", **env) as (url, _), httpx.Client(base_url=url, timeout=30) as client:
        sides = {f"req-{i:04d}": served_by(client, f"req-{i:04d}") for i in range(400)}
        again = {request_id: served_by(client, request_id) for request_id in list(sides)[:100]}
        by_ticket = served_by(client, "another-id", ticket_id="req-0007")
        search = client.post("/search", json={"query": "refund", "ticket_id": "req-0007"}).json()
        version = client.get("/version").json()["rollout"]
    share = sum(side == "candidate" for side, _ in sides.values()) / len(sides)
    assert 0.14 <= share <= 0.26, share
    assert again == {request_id: sides[request_id] for request_id in again}
    assert by_ticket == sides["req-0007"] and search["served_by"] == sides["req-0007"][0]
    assert {v for side, v in sides.values() if side == "candidate"} == {weak}
    assert {v for side, v in sides.values() if side == "production"} == {production}
    assert version == {"mode": "canary", "canary_percent": 20.0, "candidate_version": weak, "candidate_error": None}


def shadow_run(project: Path, candidate: Path, log: Path, out: Path, limit: int) -> list[dict]:
    """Serve in shadow mode, replay `limit` test tickets (and searches) through `rollout replay`; the records."""
    env = {"ROLLOUT_MODE": "shadow", "CANDIDATE_DIR": str(candidate), "DECISION_LOG": str(log)}
    with server(project, out / "shadow.log", SHADOW_MAX_PENDING="64", **env) as (url, _):
        # one client at a time: the one shadow thread keeps up, so no shadow call is skipped
        replay = [*ROLLOUT, "replay", "--url", url, "--from", "data/split/test.csv", "--limit", str(limit)]
        replay += ["--concurrency", "1"]
        replayed = run([*replay, "--search", "--labels-out", str(out / "labels.csv")], project)
        assert f"/predict 200: {limit}" in replayed.stdout and f"served by production: {2 * limit}" in replayed.stdout
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_shadow_answers_from_production_logs_both_and_decide_judges(reproduced, candidates, tmp_path):
    project, _ = reproduced
    production = manifest(project / "models/production")["version"]
    # a relaxed latency rule: on a shared 2-core machine, timings say little; the quality rules decide here
    params = tmp_path / "params.yaml"
    params.write_text((project / "params.yaml").read_text().replace("max_latency_ratio: 1.5", "max_latency_ratio: 5.0"))
    decide = [*ROLLOUT, "decide", "--params", str(params), "--labels", str(tmp_path / "labels.csv")]

    records = shadow_run(project, candidates["weak"], tmp_path / "weak.jsonl", tmp_path, 250)
    assert len(records) == 500 and {r["served_by"] for r in records} == {"production"}
    assert all(r["production"]["version"] == production and "answer" in r["candidate"] for r in records)
    assert {r["endpoint"] for r in records} == {"/predict", "/search"} and not any("text" in r for r in records)
    report = tmp_path / "report.md"
    worse = run([*decide, "--log", str(tmp_path / "weak.jsonl"), "--report", str(report)], project, check=False)
    assert worse.returncode == 1 and "## Rollout decision: ROLL BACK" in worse.stdout
    assert "| accuracy (feedback labels) |" in report.read_text() and "| FAIL |" in report.read_text()

    shadow_run(project, candidates["same"], tmp_path / "same.jsonl", tmp_path, 250)
    equal = run([*decide, "--log", str(tmp_path / "same.jsonl")], project, check=False)
    assert (
        equal.returncode == 0 and "| label agreement" not in equal.stdout and "| search top-k overlap |" in equal.stdout
    )

    small = tmp_path / "small.jsonl"
    small.write_text("".join((tmp_path / "same.jsonl").read_text().splitlines(keepends=True)[:150]))
    few = run([*decide, "--log", str(small)], project, check=False)
    assert few.returncode == 2 and "not enough data" in few.stdout


def test_reload_under_load_drops_no_request(reproduced, candidates, tmp_path):
    project, _ = reproduced
    production = manifest(project / "models/production")["version"]
    weak = manifest(candidates["weak"])["version"]
    token = "a-test-token"
    statuses, versions, stop = Counter(), Counter(), threading.Event()

    def load(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                answer = client.post("/predict", json={"text": "my parcel never arrived"})
                statuses[answer.status_code] += 1
                versions[answer.json().get("model_version")] += 1

    with server(project, tmp_path / "reload.log", ADMIN_TOKEN=token) as (url, process):
        admin = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{url}/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 403
        refused = httpx.post(f"{url}/admin/reload", headers=admin, json={"model_dir": str(tmp_path)}, timeout=30)
        assert refused.status_code == 409 and refused.json()["detail"].startswith("not reloaded, production unchanged")
        threads = [threading.Thread(target=load, args=(url,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        body = {"model_dir": str(candidates["weak"]), "index_dir": str(candidates["weak"] / "index")}
        switched = httpx.post(f"{url}/admin/reload", headers=admin, json=body, timeout=60)
        time.sleep(1)
        process.send_signal(signal.SIGHUP)  # back to MODEL_DIR, as after a rollback
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/ready").json()["model_version"] != production and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert switched.json() == {"model_version": weak, "previous": production}
    assert set(statuses) == {200} and statuses[200] > 100
    assert versions[weak] > 0 and versions[production] > 0 and set(versions) == {weak, production}


def test_the_rollout_benchmark_measures_every_mode(reproduced, tmp_path):
    project, _ = reproduced
    bench = TEMPLATE_DIR / "benchmarks" / "rollout.py"
    command = [sys.executable, bench, "--project", project, "--requests", "20", "--seconds", "1", "--out", tmp_path]
    result = run([*command, "--concurrency", "1", "2"], TEMPLATE_DIR)
    figures = json.loads((tmp_path / "rollout.json").read_text())
    rows = [r for r in figures["rows"] if "in_flight" in r]
    assert [(r["mode"], r["in_flight"]) for r in rows] == [(m, n) for m in ("off", "canary", "shadow") for n in (1, 2)]
    assert all(r["n"] > 0 and r["p95_ms"] >= r["p50_ms"] > 0 for r in rows)
    logs = {r["mode"]: r for r in figures["rows"] if "log_lines" in r}
    assert set(logs) == {"canary", "shadow"} and all(r["log_lines"] > 0 for r in logs.values())
    assert "| shadow p95 / off p95, /predict, 2 in flight |" in result.stdout
