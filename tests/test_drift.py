"""The drift check and retraining of a generated project, run for real on generated batches."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import TEMPLATE_DIR, base_env, commit, ran_stages, repro, run

sys.path.insert(0, str(TEMPLATE_DIR / "benchmarks"))
from drift_calibration import KINDS, check_batches, plan  # noqa: E402

BATCH = Path("data/incoming/tickets.csv")
# The stage's own words, or those of the project's CSV reader where it names unreadable files itself.
UNREADABLE = "not a readable UTF-8 CSV file|cannot be read as a CSV file"
pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("drift")]


def package(project: Path) -> str:
    return project.name.replace("-", "_")


def write_batch(project: Path, *args: str) -> bytes:
    """A generated batch in data/incoming/tickets.csv (options of sample_incoming); returns its bytes."""
    run([sys.executable, "-m", f"{package(project)}.stages.sample_incoming", *args], project)
    return (project / BATCH).read_bytes()


def drift_metrics(project: Path) -> dict:
    return json.loads((project / "metrics" / "drift.json").read_text())


def test_the_shipped_batch_is_the_generators_output(default_project, tmp_path):
    out = tmp_path / "tickets.csv"
    run([sys.executable, "-m", f"{package(default_project)}.stages.sample_incoming", "--out", out], default_project)
    assert out.read_bytes() == (default_project / BATCH).read_bytes()
    assert "data/incoming/tickets.csv" in run(["git", "ls-files", "data/incoming"], default_project).stdout


def test_fresh_batches_stay_quiet_and_every_shift_is_detected(reproduced):
    """The calibration of `make bench` on fewer batches: 4 fresh (300-1,000 tickets), 1 per shift kind."""
    project, _ = reproduced
    results = check_batches(project, plan(fresh=4, repeats=1), base_env())
    fresh = [r for r in results if r["shift"] == "none"]
    assert [r["fired"] for r in fresh] == [[]] * 4
    assert {r["shift"]: r["detected"] for r in results if r["shift"] != "none"} == dict.fromkeys(KINDS, True)


def test_the_full_run_checks_the_shipped_batch_and_finds_no_drift(reproduced):
    project, result = reproduced
    assert ran_stages(result)[-1] == "drift"
    metrics = drift_metrics(project)
    assert metrics["detected"] is False
    assert metrics["batch"] == {"file": "data/incoming/tickets.csv", "tickets": 300, "labelled": 300}
    expected = {"text_length", "out_of_vocabulary", "far_from_training", "predicted_labels", "confidence"}
    expected |= {"categorical.channel", "categorical.customer_tier", "categorical.language"}
    expected |= {"accuracy", "macro_f1", "label_mix"}
    assert set(metrics["checks"]) == expected
    for check in metrics["checks"].values():
        assert check["detected"] is False and "threshold" in check
        assert "p_value" in check or "score" in check
    page = (project / "reports" / "drift" / "index.html").read_text()
    assert "No drift detected" in page and page.count("<svg") >= 6
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page


def test_a_new_batch_reruns_only_drift_and_is_never_restored(reproduced_copy):
    project = reproduced_copy
    shifted = write_batch(project, "--shift", "new_channel")
    result = run(["make", "drift"], project, check=False)
    assert result.returncode != 0 and "drift detected: see reports/drift/index.html" in result.stdout
    assert ran_stages(result) == ["drift"]
    metrics = drift_metrics(project)
    assert metrics["detected"] is True
    channel = metrics["checks"]["categorical.channel"]
    assert channel["detected"] is True and set(channel["unseen"]) == {"whatsapp", "social_media"}
    assert (project / BATCH).read_bytes() == shifted

    # Nothing in DVC owns the batch: a full repro, a checkout and a status leave it as it is.
    assert ran_stages(repro(project)) == []
    run(["dvc", "checkout"], project)
    assert (project / BATCH).read_bytes() == shifted
    assert run(["git", "status", "--porcelain", str(BATCH)], project).stdout.startswith(" M")

    run(["git", "checkout", "--", str(BATCH)], project)
    result = run(["make", "drift"], project)
    assert ran_stages(result) == ["drift"] and "no drift detected" in result.stdout
    assert drift_metrics(project)["detected"] is False


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        (b"", "the file is empty"),
        (b"id,text,created_at,channel\n", "no tickets, only a header"),
        (b"id,text\nB1,hello there\n", re.escape("missing column(s) created_at, channel (found: id, text)")),
        (b'id,text,created_at,channel\nB1,"never closed\n', UNREADABLE),
        (b"id,text,created_at,channel\nB1,\xff\xfe,2025-01-01,email\n", UNREADABLE),
    ],
    ids=["missing", "empty", "header-only", "missing-columns", "unclosed-quote", "not-utf8"],
)
def test_a_bad_batch_gets_one_line_naming_the_file(reproduced_copy, content, message):
    project = reproduced_copy
    before = (project / "metrics" / "drift.json").read_bytes()
    if content is None:
        (project / BATCH).unlink()
    else:
        (project / BATCH).write_bytes(content)
    result = repro(project, "drift", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    if content is None:  # DVC itself refuses to run a stage whose dependency is missing, naming it
        assert [line for line in result.stderr.splitlines() if "ERROR" in line and str(BATCH) in line]
    else:
        lines = [line for line in result.stderr.splitlines() if line.startswith("drift:")]
        assert len(lines) == 1 and lines[0].startswith(f"drift: {BATCH}") and re.search(message, lines[0]), lines
    assert (project / "metrics" / "drift.json").read_bytes() == before


def production_hashes(lock: str) -> dict[str, str]:
    """md5 of each production model in a dvc.lock text (promote may record more outputs than the models)."""
    outs = yaml.safe_load(lock)["stages"]["promote"]["outs"]
    return {out["path"]: out["md5"] for out in outs if out["path"].startswith("models/production")}


def retrain_on_a_branch(project: Path, remote: Path, branch: str) -> tuple[subprocess.CompletedProcess, str]:
    """What the scheduled workflow does when drift is detected: `make retrain-branch`, then `make retrain-push`."""
    result = run(["make", "retrain-branch", f"BRANCH={branch}", "BASE=main"], project, timeout=1200)
    run(["make", "retrain-push", f"BRANCH={branch}"], project)
    lock = run(["git", "--git-dir", remote, "show", f"{branch}:dvc.lock"], project).stdout
    return result, lock


def test_retraining_opens_a_branch_whose_production_changes_only_when_the_gates_pass(reproduced_copy, tmp_path):
    project = reproduced_copy
    remote = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", remote], tmp_path)
    run(["git", "remote", "add", "origin", remote], project)
    if "sample_data" in yaml.safe_load((project / "dvc.yaml").read_text())["stages"]:
        run(["dvc", "remove", "sample_data"], project)  # docs: bring your own data
    write_batch(project, "--shift", "new_topic")
    commit(project, "Demo data as our own; a drifted, labelled batch arrives")
    run(["git", "push", "-q", "origin", "main"], project)
    main_lock = (project / "dvc.lock").read_text()
    main_head = run(["git", "rev-parse", "HEAD"], project).stdout

    # The same tickets with every label wrong: the retrained models fall below the floors, production stays.
    batch = pd.read_csv(project / BATCH, dtype=str, keep_default_na=False)
    labels = sorted(batch["label"].unique())
    batch["label"] = [labels[(labels.index(label) + 1) % len(labels)] for label in batch["label"]]
    batch.to_csv(project / BATCH, index=False, lineterminator="\n")
    result, lock = retrain_on_a_branch(project, remote, "retrain/refused")
    assert "models not promoted" in result.stdout
    assert lock != main_lock and production_hashes(lock) == production_hashes(main_lock)
    body = (project / "reports" / "retrain" / "pull_request.md").read_text()
    assert "**not promoted**" in body and "Drift detected" in body and "Regression gate" in body
    assert "`out_of_vocabulary`" in body

    # The right labels: the retrained models meet every floor and replace production.
    run(["git", "switch", "-q", "main"], project)
    run(["dvc", "checkout", "-q"], project)
    result, lock = retrain_on_a_branch(project, remote, "retrain/promoted")
    assert "models promoted" in result.stdout
    assert production_hashes(lock) != production_hashes(main_lock)
    body = (project / "reports" / "retrain" / "pull_request.md").read_text()
    assert "**production models replaced**" in body and "Drift detected" in body
    assert "<!-- regression-gate-report -->" in body
    assert run(["git", "--git-dir", remote, "rev-parse", "main"], project).stdout == main_head

    # The batch is in the training data once; a second append is refused in one line.
    again = run(["make", "retrain"], project, check=False)
    assert again.returncode != 0 and "this batch was appended before" in again.stderr
    refused = run(["make", "retrain-branch", "BRANCH=main"], project, check=False)
    assert refused.returncode != 0 and "never the default branch" in refused.stderr
