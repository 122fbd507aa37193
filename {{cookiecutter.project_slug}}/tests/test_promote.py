import math

from {{ cookiecutter.package_name }}.stages.promote import check_thresholds, copy_into_production


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


def test_a_threshold_on_a_metric_that_does_not_exist_is_reported():
    _, unknown = check_thresholds({"classification": {"accuracy": 0.9}}, {"classification": {"acuracy": 0.8}})
    assert unknown == ["classification.acuracy"]


def test_promotion_copies_models_byte_for_byte(tmp_path):
    candidate, production = tmp_path / "candidate", tmp_path / "production"
    (candidate / "encoder").mkdir(parents=True)
    (candidate / "classifier.skops").write_bytes(b"new classifier")
    (candidate / "encoder" / "encoder.skops").write_bytes(b"new encoder")
    (production / "encoder").mkdir(parents=True)
    (production / "encoder" / "stale.bin").write_bytes(b"old")

    copy_into_production(candidate, production)

    assert (production / "classifier.skops").read_bytes() == b"new classifier"
    assert sorted(p.name for p in (production / "encoder").iterdir()) == ["encoder.skops"]
    assert (production / "encoder" / "encoder.skops").read_bytes() == b"new encoder"
    assert sorted(p.name for p in production.iterdir()) == ["classifier.skops", "encoder"]
