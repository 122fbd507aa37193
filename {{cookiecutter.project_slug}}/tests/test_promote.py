import errno
import json
import math
import shutil
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import modelset
from {{ cookiecutter.package_name }}.modelset import (
    MANIFEST,
    ModelSetError,
    file_hashes,
    install,
    manifest_of,
    recover,
    verify,
    version_of,
)
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages import promote
from {{ cookiecutter.package_name }}.stages.promote import Decision, check_measured, check_thresholds, decide, format_table

PARAMS = Path("params.yaml").resolve()
GATE = {"thresholds": {"classification": {"accuracy": 0.8}, "retrieval": {"mrr": 0.5}}, "require_must_pass": True}
GOOD = {"classification": {"accuracy": 0.9, "macro_f1": 0.7}, "retrieval": {"mrr": 0.5}}
PASSED = {"text": "refund please", "expected": "billing", "predicted": "billing", "passed": True}
FAILED = {"text": "app crashes", "expected": "bug", "predicted": "billing", "passed": False}


def test_every_floor_must_be_reached_and_nan_never_passes():
    metrics = {"classification": {"accuracy": 0.9, "macro_f1": math.nan}, "retrieval": {"mrr": 0.5}}
    thresholds = {"classification": {"accuracy": 0.8, "macro_f1": 0.1}, "retrieval": {"mrr": 0.6}}
    rows, unknown = check_thresholds(metrics, thresholds)
    assert unknown == []
    assert {name: passed for name, _, _, passed in rows} == {
        "classification.accuracy": True,
        "classification.macro_f1": False,
        "retrieval.mrr": False,
    }


def test_a_metric_exactly_at_its_floor_passes():
    rows, _ = check_thresholds({"retrieval": {"mrr": 0.5}}, {"retrieval": {"mrr": 0.5}})
    assert rows == [("retrieval.mrr", 0.5, 0.5, True)]


def test_a_threshold_on_a_metric_that_does_not_exist_is_reported():
    _, unknown = check_thresholds({"classification": {"accuracy": 0.9}}, {"classification": {"acuracy": 0.8}})
    assert unknown == ["classification.acuracy"]


def model_set(folder, classifier=b"classifier", encoder=b"encoder"):
    (folder / "encoder" / "lexical").mkdir(parents=True)
    (folder / "encoder" / "tfidf_svd").mkdir()
    (folder / "classifier.skops").write_bytes(classifier)
    (folder / "encoder" / "tfidf_svd" / "components.npy").write_bytes(encoder)
    (folder / "encoder" / "lexical" / "idf.npy").write_bytes(b"idf")
    return folder


def test_hashes_and_version_depend_on_names_and_bytes(tmp_path):
    a = file_hashes(model_set(tmp_path / "a"))
    b = file_hashes(model_set(tmp_path / "b"))
    assert list(a) == ["classifier.skops", "encoder/lexical/idf.npy", "encoder/tfidf_svd/components.npy"]
    assert a == b and version_of(a) == version_of(b) and len(version_of(a)) == 12
    c = file_hashes(model_set(tmp_path / "c", classifier=b"other"))
    assert version_of(c) != version_of(a)
    assert version_of({"x": a["classifier.skops"]}) != version_of({"y": a["classifier.skops"]})


def test_an_incomplete_set_is_refused(tmp_path):
    (tmp_path / "classifier.skops").write_bytes(b"c")
    with pytest.raises(ModelSetError, match="not a complete model set: encoder missing"):
        file_hashes(tmp_path)


def test_promote_refuses_a_candidate_that_is_not_what_was_measured(tmp_path):
    candidate = model_set(tmp_path / "candidate")
    measured = {"files": file_hashes(candidate)}
    assert check_measured(candidate, measured) == measured["files"]
    (candidate / "classifier.skops").write_bytes(b"retrained after evaluation")
    with pytest.raises(StageError) as error:
        check_measured(candidate, measured)
    assert str(error.value) == (
        f"REFUSED: {candidate / 'classifier.skops'} is not what evaluate measured (retrained or replaced since); "
        "models/production/ is unchanged. Run `dvc repro` to evaluate it first."
    )
    (candidate / "encoder" / "extra.bin").write_bytes(b"a file evaluate never saw")
    with pytest.raises(StageError, match=r"classifier.skops, .*extra.bin is not what evaluate measured"):
        check_measured(candidate, measured)


def test_install_copies_the_set_with_a_manifest_that_verifies(tmp_path):
    candidate = model_set(tmp_path / "candidate", classifier=b"new")
    production = model_set(tmp_path / "production", classifier=b"old")
    (production / "encoder" / "stale.bin").write_bytes(b"from an older encoder")

    manifest = install(candidate, production, file_hashes(candidate))

    assert verify(production) == manifest
    assert manifest["files"] == file_hashes(candidate)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate", "production"]  # no leftovers
    (production / "classifier.skops").write_bytes(b"tampered")
    with pytest.raises(ModelSetError, match="classifier.skops is not the file the manifest names"):
        verify(production)


def test_install_refuses_bytes_other_than_expected_and_switches_nothing(tmp_path):
    candidate = model_set(tmp_path / "candidate", classifier=b"new")
    production = model_set(tmp_path / "production", classifier=b"old")
    before = file_hashes(production)
    expected = {**file_hashes(candidate), "classifier.skops": "0" * 64}
    with pytest.raises(ModelSetError, match="changed while it was copied"):
        install(candidate, production, expected)
    assert file_hashes(production) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate", "production"]


class Stopped(Exception):
    pass


@pytest.mark.parametrize("first_production", [True, False], ids=["replace", "first"])
def test_a_switch_stopped_after_any_step_leaves_one_whole_set_and_recovers(tmp_path, first_production):
    """Stop after each file operation: production is the old set or the new one, and the next run cleans up."""
    candidate = model_set(tmp_path / "candidate", classifier=b"new", encoder=b"new encoder")
    expected = file_hashes(candidate)
    step = 0
    while True:
        step += 1
        root = tmp_path / f"run{step}"
        root.mkdir()
        production = root / "production"
        old = (
            file_hashes(model_set(production, classifier=b"old", encoder=b"old encoder")) if first_production else None
        )
        calls = []

        def checkpoint(name, calls=calls, step=step):
            calls.append(name)
            if len(calls) == step:
                raise Stopped(name)

        try:
            install(candidate, production, expected, checkpoint)
        except Stopped:
            pass
        else:
            break  # every step has been tried
        if production.exists():
            assert file_hashes(production) in (old, expected), f"a mix after step {step} ({calls[-1]})"
        else:
            assert not first_production  # no production yet, and none half-made
        recover(production)
        assert sorted(p.name for p in root.iterdir()) == (["production"] if production.exists() else [])
        install(candidate, production, expected)
        assert verify(production)["files"] == expected
        assert sorted(p.name for p in root.iterdir()) == ["production"]
        assert (production / MANIFEST).is_file()
    assert step >= 6


def test_a_metric_just_below_its_floor_fails():
    rows, _ = check_thresholds({"retrieval": {"mrr": 0.4999}}, {"retrieval": {"mrr": 0.5}})
    assert rows == [("retrieval.mrr", 0.4999, 0.5, False)]


def test_decide_promotes_only_when_every_floor_and_every_must_pass_case_holds():
    decision = decide(GOOD, [PASSED, PASSED], GATE)
    assert decision.promoted and decision.failed_cases == [] and decision.must_pass_total == 2
    assert decision.summary() == {"promotion": {"promoted": 1, "floors_missed": 0, "must_pass_failed": 0}}

    low = decide({**GOOD, "classification": {"accuracy": 0.79}}, [PASSED], GATE)
    assert not low.promoted
    assert low.summary() == {"promotion": {"promoted": 0, "floors_missed": 1, "must_pass_failed": 0}}

    broken = decide(GOOD, [PASSED, FAILED, FAILED], GATE)
    assert not broken.promoted and broken.failed_cases == [FAILED, FAILED]
    assert broken.summary() == {"promotion": {"promoted": 0, "floors_missed": 0, "must_pass_failed": 2}}


def test_must_pass_failures_count_only_when_required():
    decision = decide(GOOD, [FAILED], {**GATE, "require_must_pass": False})
    assert decision.promoted and decision.failed_cases == [] and decision.must_pass_total == 1
    assert decide(GOOD, [], {**GATE, "require_must_pass": False}).promoted
    with pytest.raises(StageError) as error:
        decide(GOOD, [], GATE)
    assert str(error.value) == (
        "gate.require_must_pass is true but no must-pass ticket was evaluated: "
        "add cases to golden/must_pass_tickets.csv, or set it to false"
    )


def test_a_floor_on_an_unknown_metric_is_a_config_error_naming_it():
    gate = {**GATE, "thresholds": {"retrieval": {"mrr": 0.5, "recall_at_50": 0.9, "recall_at_60": 0.9}}}
    with pytest.raises(StageError) as error:
        decide(GOOD, [PASSED], gate)
    assert str(error.value) == (
        "gate.thresholds names unknown metric(s) retrieval.recall_at_50, retrieval.recall_at_60; "
        "known: classification.accuracy, classification.macro_f1, retrieval.mrr"
    )


def test_the_report_shows_each_floor_and_each_failed_case():
    decision = Decision([("classification.accuracy", 0.79, 0.8, False), ("retrieval.mrr", 0.5, 0.5, True)], [FAILED], 3)
    assert decision.report().splitlines() == [
        "  metric                   achieved  floor   verdict",
        "  -----------------------  --------  ------  -------",
        "  classification.accuracy    0.7900  0.8000  TOO LOW",
        "  retrieval.mrr              0.5000  0.5000  ok",
        "  must-pass ticket failed: 'app crashes': expected bug, got billing",
    ]
    assert format_table([]).splitlines()[0] == "  metric  achieved  floor   verdict"


@pytest.fixture
def stage_dir(tmp_path, monkeypatch):
    """A folder laid out as the project, with a measured candidate; promote's main runs in it."""
    shutil.copy(PARAMS, tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    candidate = model_set(tmp_path / "models" / "candidate", classifier=b"new")
    write_metrics(tmp_path, {}, [PASSED])
    (tmp_path / "metrics" / "evaluate" / "models.json").write_text(json.dumps(manifest_of(file_hashes(candidate))))
    return tmp_path


def write_metrics(root, metrics, must_pass):
    folder = root / "metrics" / "evaluate"
    folder.mkdir(parents=True, exist_ok=True)
    full = {"classification": {"accuracy": 0.9, "macro_f1": 0.9}, "retrieval": {"recall_at_5": 0.9, "mrr": 0.9}}
    for group, values in metrics.items():
        full[group].update(values)
    (folder / "metrics.json").write_text(json.dumps(full))
    (folder / "must_pass.json").write_text(json.dumps(must_pass))


def decision_file(root):
    return json.loads((root / "metrics" / "promote.json").read_text())["promotion"]


def test_promote_installs_a_candidate_that_passes(stage_dir, capsys):
    (stage_dir / "models" / "production.next").mkdir()  # what a switch stopped half-way leaves
    assert promote.main([]) == 0
    production = stage_dir / "models" / "production"
    manifest = verify(production)
    assert manifest["files"] == file_hashes(stage_dir / "models" / "candidate")
    assert not (stage_dir / "models" / "production.next").exists()
    assert decision_file(stage_dir) == {"promoted": 1, "floors_missed": 0, "must_pass_failed": 0}
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "promote: removed what an interrupted switch of models/production left behind"
    assert out[1] == (
        f"promote: every floor met and 1 must-pass tickets passed; model set {manifest['version']} "
        "promoted to models/production/"
    )
    assert out[2:4] == [
        "  metric                   achieved  floor   verdict",
        "  " + "-" * 23 + "  --------  ------  -------",
    ]
    assert "  classification.accuracy    0.9000  0.8500  ok" in out
    assert promote.main(["--check"]) == 0
    assert capsys.readouterr().out == "promote: the candidate of the last run was promoted\n"


@pytest.mark.parametrize(
    ("metrics", "must_pass", "summary"),
    [
        ({"classification": {"accuracy": 0.84}}, [PASSED], {"floors_missed": 1, "must_pass_failed": 0}),
        ({}, [PASSED, FAILED], {"floors_missed": 0, "must_pass_failed": 1}),
    ],
    ids=["below-a-floor", "a-must-pass-ticket-fails"],
)
def test_a_refused_candidate_leaves_production_byte_identical(stage_dir, capsys, metrics, must_pass, summary):
    production = model_set(stage_dir / "models" / "production", classifier=b"old")
    before = file_hashes(production)
    write_metrics(stage_dir, metrics, must_pass)
    assert promote.main([]) == 0  # a refusal is a result: the run goes on
    assert file_hashes(production) == before and not (production / MANIFEST).exists()
    assert decision_file(stage_dir) == {"promoted": 0, **summary}
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "promote: REFUSED: the candidate models fall short; models/production/ is unchanged. "
        "The run goes on so experiments can be compared; `make repro` and CI fail on it."
    )
    assert err[1] == "  metric                   achieved  floor   verdict"
    assert promote.main(["--check"]) == 1
    check = capsys.readouterr().err.splitlines()
    assert check[0] == "promote: REFUSED: the candidate of the last run was not promoted."
    assert check[1:] == err[1:]  # the same table and failed tickets


def test_a_refusal_without_any_production_set_fails_the_stage(stage_dir):
    write_metrics(stage_dir, {"retrieval": {"mrr": 0.1}}, [PASSED])
    with pytest.raises(StageError) as error:
        promote.main([])
    assert str(error.value) == "REFUSED, and there is no production model set yet: embed and index have nothing to use"
    assert decision_file(stage_dir)["promoted"] == 0


def test_check_before_any_run_says_what_to_do(stage_dir):
    with pytest.raises(StageError, match="metrics/promote.json not found: run `dvc repro` first"):
        promote.main(["--check"])


def test_a_checkpoint_stops_after_the_given_step_only(monkeypatch, capsys):
    assert promote.stop_after_steps(None)("copy") is None
    exits = []
    monkeypatch.setattr(promote.os, "_exit", exits.append)
    checkpoint = promote.stop_after_steps("2")
    checkpoint("copy")
    assert exits == []
    checkpoint("switch")
    assert exits == [137]
    assert capsys.readouterr().err == "promote: stopped after step 2 (switch)\n"


def test_the_command_line_help(capsys):
    with pytest.raises(SystemExit):
        promote.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: python -m {{ cookiecutter.package_name }}.stages.promote [-h] [--check]")
    assert "--check exit 1 if the last run refused its candidate" in text


def with_slice(root, accuracy, support):
    """A slice metric in the metrics and a floor for it in params.yaml."""
    text = (root / "params.yaml").read_text()
    floor = "  thresholds:\n    slices:\n      tickets:\n        channel:\n          fax:\n            accuracy: 0.5\n"
    (root / "params.yaml").write_text(text.replace("  thresholds:\n", floor, 1))
    metrics = json.loads((root / "metrics" / "evaluate" / "metrics.json").read_text())
    metrics["slices"] = {"tickets": {"channel": {"fax": {"accuracy": accuracy, "support": support}}}}
    (root / "metrics" / "evaluate" / "metrics.json").write_text(json.dumps(metrics))


def test_a_slice_with_fewer_cases_than_min_support_is_reported_not_gated(stage_dir, capsys):
    with_slice(stage_dir, accuracy=0.1, support=29)  # evaluate.min_support is 30
    assert promote.main([]) == 0
    out = capsys.readouterr().out
    assert "promoted to models/production/" in out
    assert (
        "  not gated, 29 cases < evaluate.min_support: slices.tickets.channel.fax.accuracy 0.1000 (floor 0.5000)" in out
    )


def test_a_slice_with_min_support_cases_is_gated_and_check_repeats_the_report(stage_dir, capsys):
    with_slice(stage_dir, accuracy=0.1, support=30)
    model_set(stage_dir / "models" / "production", classifier=b"old")
    assert promote.main([]) == 0
    err = capsys.readouterr().err
    assert "  slices.tickets.channel.fax.accuracy    0.1000  0.5000  TOO LOW" in err
    assert promote.main(["--check"]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == err.splitlines()[1:]


def test_check_reports_small_slices_as_the_run_did(stage_dir, capsys):
    write_metrics(stage_dir, {"classification": {"accuracy": 0.5}}, [PASSED])
    with_slice(stage_dir, accuracy=0.1, support=3)
    model_set(stage_dir / "models" / "production", classifier=b"old")
    promote.main([])
    err = capsys.readouterr().err
    assert "not gated, 3 cases < evaluate.min_support" in err
    assert promote.main(["--check"]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == err.splitlines()[1:]


@pytest.mark.skipif(
    not sys.platform.startswith(("linux", "darwin")), reason="an atomic exchange needs renameat2 or renamex_np"
)
def test_production_and_the_new_set_trade_places_in_one_step(tmp_path):
    """renameat2 (Linux) or renamex_np (macOS): never a moment without a production folder."""
    new, production = tmp_path / "new", tmp_path / "production"
    for folder, text in ((new, "candidate"), (production, "current")):
        folder.mkdir()
        (folder / "classifier.skops").write_text(text)
    assert modelset._exchange(new, production) is True
    assert (production / "classifier.skops").read_text() == "candidate"
    assert (new / "classifier.skops").read_text() == "current"
    with pytest.raises(OSError) as failed:
        modelset._exchange(tmp_path / "missing", production)
    assert failed.value.errno == errno.ENOENT and failed.value.filename == str(tmp_path / "missing")
