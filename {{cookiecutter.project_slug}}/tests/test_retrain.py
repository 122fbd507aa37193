"""Retraining's steps that decide or refuse (`make retrain`, `make retrain-branch`), on files made here."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import retrain
from {{ cookiecutter.package_name }}.encoders import folder_sha256
from {{ cookiecutter.package_name }}.runner import StageError

RAW = "id,text,label,created_at,channel\nT000001,charged twice,billing,2024-01-01T00:00:00,email\n"
BATCH = (
    "id,text,created_at,channel,label\n"
    "B7-000001,cannot log in,2025-01-02T00:00:00,web,account_access\n"
    'B7-000002,"parcel, late",2025-01-03T00:00:00,chat,shipping\n'
)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("dvc.yaml").write_text("stages:\n  validate:\n    outs:\n    - data/validated/tickets.csv\n")
    Path("data/raw").mkdir(parents=True)
    Path("data/incoming").mkdir(parents=True)
    Path("data/raw/tickets.csv").write_text(RAW)
    Path("data/incoming/tickets.csv").write_text(BATCH)
    return tmp_path


def test_stage_writing_names_the_stage_that_outputs_a_file(tmp_path):
    dvc_yaml = tmp_path / "dvc.yaml"
    dvc_yaml.write_text(
        "stages:\n"
        "  sample:\n    outs:\n    - data/raw/kb.csv\n    - data/raw/tickets.csv:\n        cache: false\n"
        "  other:\n    deps:\n    - data/raw/queries.csv\n"
    )
    assert retrain.stage_writing(Path("data/raw/tickets.csv"), dvc_yaml) == "sample"
    assert retrain.stage_writing(Path("data/raw/kb.csv"), dvc_yaml) == "sample"
    assert retrain.stage_writing(Path("data/raw/queries.csv"), dvc_yaml) is None
    dvc_yaml.write_text("")
    assert retrain.stage_writing(Path("data/raw/tickets.csv"), dvc_yaml) is None


def test_append_keeps_the_existing_bytes_and_orders_columns_like_the_raw_file(workspace, capsys):
    assert retrain.main(["append"]) == 0
    assert Path("data/raw/tickets.csv").read_text() == RAW + (
        "B7-000001,cannot log in,account_access,2025-01-02T00:00:00,web\n"
        'B7-000002,"parcel, late",shipping,2025-01-03T00:00:00,chat\n'
    )
    assert capsys.readouterr().out == (
        "retrain: appended 2 tickets from data/incoming/tickets.csv to data/raw/tickets.csv\n"
    )
    with pytest.raises(
        StageError,
        match=r"^data/incoming/tickets.csv: 2 ticket id\(s\) already in data/raw/tickets.csv"
        r" \(e.g. B7-000001\): this batch was appended before$",
    ):
        retrain.append_batch()


def test_append_adds_the_missing_newline_of_the_raw_file(workspace):
    Path("data/raw/tickets.csv").write_text(RAW.rstrip("\n"))
    assert retrain.append_batch() == 2
    assert Path("data/raw/tickets.csv").read_text().startswith(RAW + "B7-000001,")


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (BATCH.replace(",account_access\n", ",\n"), r"1 ticket\(s\) without a label \(e.g. id B7-000001\)$"),
        (BATCH.replace(",label\n", ",tier\n"), r"2 ticket\(s\) without a label \(e.g. id B7-000001\)$"),
    ],
    ids=["one-unlabelled", "no-label-column"],
)
def test_append_refuses_unlabelled_tickets(workspace, batch, message):
    Path("data/incoming/tickets.csv").write_text(batch)
    with pytest.raises(StageError, match="^data/incoming/tickets.csv: " + message):
        retrain.append_batch()
    assert Path("data/raw/tickets.csv").read_text() == RAW


def test_append_refuses_when_a_stage_writes_the_raw_tickets_or_they_are_missing(workspace):
    Path("dvc.yaml").write_text("stages:\n  sample_data:\n    outs:\n    - data/raw/tickets.csv\n")
    with pytest.raises(
        StageError,
        match=r"^data/raw/tickets.csv is written by the stage 'sample_data', which would "
        r"overwrite the appended tickets: run `dvc remove sample_data` first \(docs: bring your own data\)$",
    ):
        retrain.append_batch()
    Path("dvc.yaml").write_text("stages: {}\n")
    Path("data/raw/tickets.csv").unlink()
    with pytest.raises(StageError, match=r"^data/raw/tickets.csv: file not found; retraining appends the batch"):
        retrain.append_batch()


def test_the_production_digest_changes_with_any_file_or_name(workspace):
    production = Path("models/production")
    (production / "encoder").mkdir(parents=True)
    (production / "classifier.skops").write_bytes(b"model")
    (production / "encoder" / "a.npy").write_bytes(b"vectors")
    expected = hashlib.sha256()
    for name, value in [
        ("classifier.skops", hashlib.sha256(b"model").hexdigest()),
        ("encoder", folder_sha256(production / "encoder")),
    ]:
        expected.update(name.encode())
        expected.update(value.encode())
    digest = retrain.production_digest()
    assert digest == expected.hexdigest()
    (production / "encoder" / "a.npy").write_bytes(b"vectorz")
    assert retrain.production_digest() != digest


@pytest.mark.parametrize(
    ("changed", "repro_code", "decision", "outcome"),
    [
        (True, 1, None, "promoted"),  # the models changed: promoted, whatever else happened
        (False, 0, {"promotion": {"promoted": 0}}, "not promoted"),  # promote refused
        (False, 1, None, "not promoted"),  # the pipeline stopped
        (False, 0, {"promotion": {"promoted": 1}}, "unchanged"),
        (False, 0, {}, "unchanged"),
        (False, 0, None, "unchanged"),  # no decision written: nothing says promote refused
    ],
)
def test_promotion_outcome(workspace, changed, repro_code, decision, outcome):
    Path("models/production").mkdir(parents=True)
    Path("models/production/classifier.skops").write_bytes(b"old")
    before = retrain.production_digest()
    if changed:
        Path("models/production/classifier.skops").write_bytes(b"new")
    if decision is not None:
        Path("metrics").mkdir()
        Path("metrics/promote.json").write_text(json.dumps(decision))
    assert retrain.promotion_outcome(before, repro_code) == outcome


def test_the_pull_request_body_says_why_what_happened_and_the_gate():
    body = retrain.pull_request_body("## Drift\n\n", "not promoted", "## Gate\nok\n")
    assert body == (
        "# Retraining on the incoming batch\n"
        "\n"
        "`make retrain` appended `data/incoming/tickets.csv` to `data/raw/tickets.csv` and reran the pipeline.\n"
        "\n"
        "## Promotion\n"
        "\n"
        "❌ The retrained models were **not promoted**: production models unchanged (see `dvc repro`).\n"
        "\n"
        "## Drift\n"
        "\n"
        "## Gate\nok\n"
    )
    assert "**production models replaced**" in retrain.pull_request_body("", "promoted", "")
    assert "identical to production: nothing to promote" in retrain.pull_request_body("", "unchanged", "")


def git(*args):
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize(
    ("branch", "base", "message"),
    [
        (" ", "main", r"^no branch given: make retrain-branch BRANCH=<new branch>$"),
        ("main", "dev", r"^refusing to retrain on 'main': use a new branch, never the default branch$"),
        ("master", "dev", r"^refusing to retrain on 'master'"),
        ("dev", "origin/dev", r"^refusing to retrain on 'dev'"),
        ("existing", "main", r"^branch 'existing' already exists$"),
    ],
)
def test_retrain_branch_refuses_before_touching_anything(workspace, branch, base, message):
    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "first")
    git("branch", "existing")
    with pytest.raises(StageError, match=message):
        retrain.main(["branch", "--branch", branch, "--base", base])
    assert git("branch", "--show-current") == "main" and Path("data/raw/tickets.csv").read_text() == RAW


def test_retrain_branch_takes_the_gates_base_by_default(workspace, monkeypatch):
    monkeypatch.setenv("BASE", "release")
    with pytest.raises(StageError, match="^refusing to retrain on 'release'"):
        retrain.main(["branch", "--branch", "release"])


def test_the_commands_and_their_options():
    assert vars(retrain.parse_args(["append"])) == {"command": "append"}
    assert vars(retrain.parse_args(["branch", "--branch", "b"])) == {"command": "branch", "branch": "b", "base": ""}
    with pytest.raises(SystemExit):
        retrain.parse_args([])
    with pytest.raises(SystemExit):
        retrain.parse_args(["branch"])
