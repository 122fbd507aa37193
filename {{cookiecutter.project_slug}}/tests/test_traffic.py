"""Canary and shadow routing, the rollout settings and the decision log (traffic.py)."""

import json
import time

import pytest

from {{ cookiecutter.package_name }}.rollout import read_log
from {{ cookiecutter.package_name }}.traffic import (
    DecisionLog,
    Rollout,
    RolloutSettingsError,
    Settings,
    settings_from,
    to_candidate,
)


class Side:
    """A model set as the rollout sees it: a version, and an answer per text."""

    def __init__(self, version, fail=False, delay=0.0):
        self.version, self.fail, self.delay = version, fail, delay

    def predict(self, texts):
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("model broke\nsecond line")
        return [{"label": f"{self.version}:{t}"} for t in texts]


def labels(predictions):
    return {"labels": [p["label"] for p in predictions]}


def test_canary_share_is_close_to_the_percent_and_sticky():
    keys = [f"T{i:06d}" for i in range(10_000)]
    share = sum(to_candidate(k, 20) for k in keys) / len(keys)
    assert 0.19 < share < 0.21
    assert [to_candidate(k, 20) for k in keys[:500]] == [to_candidate(k, 20) for k in keys[:500]]
    assert not any(to_candidate(k, 0) for k in keys) and all(to_candidate(k, 100) for k in keys)
    # a bigger share keeps every key that was in the smaller one
    assert all(to_candidate(k, 30) for k in keys if to_candidate(k, 20))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ROLLOUT_MODE": "blue-green"}, "ROLLOUT_MODE must be one of off, canary, shadow, got 'blue-green'"),
        ({"ROLLOUT_MODE": "canary"}, "ROLLOUT_MODE=canary needs CANDIDATE_DIR"),
        ({"CANARY_PERCENT": "101"}, "CANARY_PERCENT must be between 0 and 100, got '101'"),
        ({"CANARY_PERCENT": "-1"}, "CANARY_PERCENT must be between 0 and 100, got '-1'"),
        ({"CANARY_PERCENT": "nan"}, "CANARY_PERCENT must be between 0 and 100"),
        ({"CANARY_PERCENT": "ten"}, "CANARY_PERCENT must be a number, got 'ten'"),
        ({"SHADOW_MAX_PENDING": "0"}, "SHADOW_MAX_PENDING must be at least 1, got '0'"),
        ({"DECISION_LOG_MAX_BYTES": "1.5"}, "DECISION_LOG_MAX_BYTES must be a number"),
    ],
)
def test_bad_settings_are_named(env, message):
    with pytest.raises(RolloutSettingsError, match=message.replace("(", r"\(")):
        settings_from(env)


def test_settings_defaults_and_candidate_index():
    assert settings_from({}) == Settings()
    settings = settings_from({"ROLLOUT_MODE": " Canary ", "CANDIDATE_DIR": "rel/v2", "CANARY_PERCENT": "100"})
    assert (settings.mode, settings.candidate_index_dir, settings.canary_percent) == ("canary", "rel/v2/index", 100.0)
    other = settings_from({"ROLLOUT_MODE": "shadow", "CANDIDATE_DIR": "a", "CANDIDATE_INDEX_DIR": "b"})
    assert other.candidate_index_dir == "b" and other.shadow_max_pending == 16 and other.log_backups == 5


def call(rollout, key, production, candidate, request_id=None, text=None):
    return rollout.call(
        "/predict", request_id or key, key, production, candidate, lambda s: s.predict(["x"]), labels, text
    )


def test_canary_answers_from_one_side_and_logs_it(tmp_path):
    log_path = tmp_path / "decisions.jsonl"
    rollout = Rollout(Settings(mode="canary", canary_percent=50), DecisionLog(str(log_path), 10**6, 1), False)
    production, candidate = Side("p1"), Side("c1")
    sides = {}
    for i in range(40):
        key = f"T{i}"
        answer, served_by, version = call(rollout, key, production, candidate, text="secret")
        assert served_by == ("candidate" if to_candidate(key, 50) else "production")
        assert answer == [{"label": f"{version}:x"}] and version == {"production": "p1", "candidate": "c1"}[served_by]
        sides[key] = served_by
    rollout.close()
    records = read_log(log_path)
    assert len(records) == 40 and 0 < sum(s == "candidate" for s in sides.values()) < 40
    for record in records:
        side, other = record["served_by"], ({"production", "candidate"} - {record["served_by"]}).pop()
        assert side == sides[record["request_id"]] and other not in record and "text" not in record
        assert record[side]["answer"] == {"labels": [f"{record[side]['version']}:x"]}
        assert record["mode"] == "canary" and record["endpoint"] == "/predict" and record[side]["latency_ms"] >= 0


def test_shadow_answers_from_production_and_logs_both(tmp_path):
    log_path = tmp_path / "decisions.jsonl"
    rollout = Rollout(Settings(mode="shadow"), DecisionLog(str(log_path), 10**6, 1), log_text=True)
    for i in range(5):
        answer, served_by, version = call(rollout, f"T{i}", Side("p1"), Side("c1"), text="the text")
        assert (served_by, version, answer) == ("production", "p1", [{"label": "p1:x"}])
    rollout.close()
    records = read_log(log_path)
    assert [r["candidate"]["answer"] for r in records] == [{"labels": ["c1:x"]}] * 5
    assert all(r["production"]["answer"] == {"labels": ["p1:x"]} and r["text"] == "the text" for r in records)


def test_a_failing_shadow_is_logged_and_never_reaches_the_user(tmp_path):
    log_path = tmp_path / "decisions.jsonl"
    rollout = Rollout(Settings(mode="shadow"), DecisionLog(str(log_path), 10**6, 1), False)
    answer, served_by, _ = call(rollout, "T1", Side("p1"), Side("c1", fail=True))
    rollout.close()
    rollout.close()  # a second close (a second lifespan end) is harmless
    (record,) = read_log(log_path)
    assert served_by == "production" and answer == [{"label": "p1:x"}]
    assert record["candidate"]["error"] == "RuntimeError: model broke" and "answer" not in record["candidate"]


def test_a_failing_production_call_is_logged_then_raised(tmp_path):
    log_path = tmp_path / "decisions.jsonl"
    rollout = Rollout(Settings(mode="canary", canary_percent=0), DecisionLog(str(log_path), 10**6, 1), False)
    with pytest.raises(RuntimeError, match="model broke"):
        call(rollout, "T1", Side("p1", fail=True), Side("c1"))
    rollout.close()
    (record,) = read_log(log_path)
    assert record["production"]["error"] == "RuntimeError: model broke" and record["served_by"] == "production"


def test_shadow_calls_beyond_the_bound_are_skipped_not_waited_for(tmp_path):
    log_path = tmp_path / "decisions.jsonl"
    rollout = Rollout(Settings(mode="shadow", shadow_max_pending=2), DecisionLog(str(log_path), 10**6, 1), False)
    slow = Side("c1", delay=0.3)
    started = time.perf_counter()
    for i in range(6):
        call(rollout, f"T{i}", Side("p1"), slow)
    assert time.perf_counter() - started < 0.25  # production never waited for the candidate
    rollout.close()
    records = read_log(log_path)
    skipped = [r for r in records if r["candidate"].get("skipped")]
    assert len(records) == 6 and len(skipped) == 4
    assert all(r["production"]["answer"] == {"labels": ["p1:x"]} for r in records)


def test_without_a_candidate_production_answers_in_every_mode(tmp_path):
    rollout = Rollout(Settings(mode="canary", canary_percent=100), None, False)
    assert call(rollout, "T1", Side("p1"), None)[1:] == ("production", "p1")
    rollout.close()


def test_the_decision_log_rotates_by_size_and_is_read_in_order(tmp_path):
    log_path = tmp_path / "decisions.jsonl"
    log = DecisionLog(str(log_path), max_bytes=300, backups=50)
    for i in range(40):
        log.write({"request_id": f"R{i:03d}", "pad": "x" * 40})
    log.close()
    assert len(list(tmp_path.glob("decisions.jsonl.*"))) >= 5
    assert all(p.stat().st_size <= 300 for p in tmp_path.glob("decisions.jsonl*"))
    assert [r["request_id"] for r in read_log(log_path)] == [f"R{i:03d}" for i in range(40)]
    assert json.loads(log_path.read_text().splitlines()[-1])["request_id"] == "R039"
