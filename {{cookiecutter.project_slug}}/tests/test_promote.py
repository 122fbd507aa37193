import math

import pytest

from {{ cookiecutter.package_name }}.modelset import (
    MANIFEST,
    ModelSetError,
    file_hashes,
    install,
    recover,
    verify,
    version_of,
)
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages.promote import check_measured, check_thresholds


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
    (folder / "classifier.skops").write_bytes(classifier)
    (folder / "encoder" / "encoder.skops").write_bytes(encoder)
    (folder / "encoder" / "lexical" / "idf.npy").write_bytes(b"idf")
    return folder


def test_hashes_and_version_depend_on_names_and_bytes(tmp_path):
    a = file_hashes(model_set(tmp_path / "a"))
    b = file_hashes(model_set(tmp_path / "b"))
    assert list(a) == ["classifier.skops", "encoder/encoder.skops", "encoder/lexical/idf.npy"]
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
    with pytest.raises(StageError, match="classifier.skops is not what evaluate measured"):
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
