"""The expectation suites, run for real with Great Expectations on small frames."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages import validate
from {{ cookiecutter.package_name }}.stages.validate import describe_failure, resolve, validate_frames

PROJECT = Path(".").resolve()


@pytest.fixture
def params():
    params = load_params()
    params["validate"]["tickets"]["min_rows"] = 1
    params["validate"]["labels"] = ["billing", "account_access", "shipping", "bug"]
    return params


def failures(tickets, params, tmp_path):
    return validate_frames({"tickets": tickets}, params, tmp_path / "docs")[1]


def test_placeholders_come_from_params_and_other_tables(params):
    frames = {"kb": pd.DataFrame({"id": ["KB2", "KB1", None]})}
    assert resolve("${params.validate.labels}", params, frames) == params["validate"]["labels"]
    assert resolve({"value_set": "${data.kb.id}"}, params, frames) == {"value_set": ["KB1", "KB2"]}
    with pytest.raises(StageError, match="validate.nope"):
        resolve("${params.validate.nope}", params, frames)


def test_clean_tickets_pass_and_data_docs_are_written(tickets, params, tmp_path):
    assert failures(tickets, params, tmp_path) == []
    assert (tmp_path / "docs" / "index.html").exists()


def test_unknown_label_is_reported_with_the_offending_row(tickets, params, tmp_path):
    tickets.loc[3, "label"] = "refunds"
    (message,) = failures(tickets, params, tmp_path)
    assert "expect_column_values_to_be_in_set on tickets.label" in message
    assert "'refunds'" in message and "T000003" in message


def test_missing_column_duplicate_ids_and_empty_text_all_fail(tickets, params, tmp_path):
    broken = tickets.drop(columns=["channel"])
    broken.loc[1, "id"] = broken.loc[0, "id"]
    broken.loc[2, "text"] = None
    report = "\n".join(failures(broken, params, tmp_path))
    assert "expect_column_to_exist on tickets.channel" in report
    assert "column 'channel' is missing" in report
    assert "expect_column_values_to_be_unique on tickets.id" in report
    assert "expect_column_values_to_not_be_null on tickets.text" in report


def test_a_query_pointing_at_a_missing_article_fails_however_large_the_kb(params, tmp_path):
    n = 5000
    kb = pd.DataFrame({"id": [f"KB{i:05d}" for i in range(n)], "title": ["How to"] * n, "body": ["Steps."] * n})
    queries = pd.DataFrame({"query": [f"question {i}" for i in range(12)], "kb_id": ["KB00001"] * 11 + ["KB99999"]})
    params["validate"]["kb"]["body_length"]["min"] = 1
    report = "\n".join(validate_frames({"kb": kb, "queries": queries}, params, tmp_path / "docs")[1])
    assert "expect_column_values_to_be_in_set on queries.kb_id" in report
    assert "'KB99999'" in report


def test_timestamps_out_of_range_are_reported_at_any_resolution(tickets, params, tmp_path):
    tickets.loc[2, "created_at"] = "2999-01-01T00:00:00"  # beyond datetime64[ns]: checked on the slow path
    tickets.loc[5, "created_at"] = "2010-06-01T00:00:00"
    (message,) = failures(tickets, params, tmp_path)
    assert "expect_column_values_to_be_between on tickets.created_at" in message
    assert "T000002" in message and "T000005" in message


def test_too_few_rows_fail_and_the_minimum_itself_passes(tickets, params, tmp_path):
    params["validate"]["tickets"]["min_rows"] = len(tickets) + 1
    (message,) = failures(tickets, params, tmp_path)
    assert message.splitlines()[:2] == [
        "  expect_table_row_count_to_be_between on tickets",
        f"    expected: min_value={len(tickets) + 1}, max_value=5000000",
    ]
    assert f"observed: {len(tickets)}" in message
    params["validate"]["tickets"]["min_rows"] = len(tickets)
    assert failures(tickets, params, tmp_path) == []


def test_a_text_shorter_than_the_minimum_fails_with_its_row(tickets, params, tmp_path):
    params["validate"]["tickets"]["text_length"]["min"] = 10
    tickets.loc[4, "text"] = "too short"  # 9 characters
    tickets.loc[5, "text"] = "just right"  # 10 characters: allowed
    (message,) = failures(tickets, params, tmp_path)
    assert "expect_column_value_lengths_to_be_between on tickets.text" in message
    assert "observed: 1 of 8 rows unexpected" in message
    assert "e.g.: ['too short']" in message and "rows: id T000004" in message


def test_a_failure_is_described_with_its_rows_and_reason():
    frame = pd.DataFrame({"id": ["A", None, "C"], "label": ["x", "y", None]})
    result = {
        "expectation_config": {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "label", "value_set": ["x"], "batch_id": "b"},
            "meta": {"why": "labels are a closed set"},
        },
        "result": {"unexpected_count": 2, "element_count": 30, "partial_unexpected_index_list": [1, 2, 7]},
    }
    assert describe_failure("tickets", result, frame, max_rows=5).splitlines() == [
        "  expect_column_values_to_be_in_set on tickets.label",
        "    expected: value_set=['x']",
        "    why: labels are a closed set",
        "    observed: 2 of 30 rows unexpected",
        "    e.g.: ['y', '']",
        "    rows: id (empty), C",
    ]
    assert "    e.g.: ['y']" in describe_failure("tickets", result, frame, max_rows=1)
    no_ids = describe_failure("tickets", result, frame.drop(columns=["id"]), max_rows=5)
    assert no_ids.splitlines()[-1] == "    rows: 3, 4 (line numbers in the CSV)"
    without_rows = {**result, "result": {"unexpected_count": 4, "partial_unexpected_list": ["q", None]}}
    assert describe_failure("tickets", without_rows, frame, max_rows=5).splitlines()[3:] == [
        "    observed: 4 of 3 rows unexpected",  # no element count: the frame's length
        "    e.g.: ['q', '']",
    ]


def test_failures_without_rows_show_the_observed_value_or_the_error():
    def config(kind, **kwargs):
        return {"expectation_config": {"type": kind, "kwargs": kwargs}}

    frame = pd.DataFrame({"id": ["A"]})
    unique = {**config("expect_column_values_to_be_unique", column="id"), "result": {"observed_value": 3}}
    assert describe_failure("kb", unique, frame, 5).splitlines() == [
        "  expect_column_values_to_be_unique on kb.id",
        "    expected: every value unique",
        "    observed: 3",
    ]
    missing = config("expect_column_to_exist", column="title")
    assert describe_failure("kb", missing, frame, 5).splitlines()[-1] == (
        "    observed: column 'title' is missing (columns: id)"
    )
    error = {
        **config("expect_table_columns_to_match_set"),
        "exception_info": {"m": {"raised_exception": True, "exception_message": "boom"}},
    }
    assert describe_failure("kb", error, frame, 5).splitlines()[1:] == ["    expected: -", "    observed: error: boom"]
    top = {**config("expect_x"), "exception_info": {"raised_exception": True, "exception_message": "top"}}
    assert describe_failure("kb", top, frame, 5).endswith("observed: error: top")
    long = {**config("expect_x", value_set=list(range(100))), "result": {"observed_value": None}}
    expected = describe_failure("kb", long, frame, 5).splitlines()[1]
    assert expected.endswith("...") and len(expected) == len("    expected: value_set=") + 160
    assert validate._short("x" * 158) == repr("x" * 158) and validate._short("x" * 159) == repr("x" * 156)[:157] + "..."


def test_timestamps_are_parsed_as_utc_and_garbage_becomes_null():
    frame = pd.DataFrame(
        {"created_at": ["2024-05-01T10:00:00", "2024-05-01T12:00:00+02:00", "yesterday"], "x": [1, 2, 3]}
    )
    parsed = validate.with_datetimes(frame, ["created_at", "absent"])
    assert str(parsed["created_at"].dtype) == "datetime64[ns]"
    assert parsed["created_at"].tolist()[:2] == [pd.Timestamp("2024-05-01T10:00:00")] * 2
    assert pd.isna(parsed["created_at"][2]) and frame["created_at"][2] == "yesterday"  # the input is untouched


KB = pd.DataFrame({"id": ["KB1", "KB2"], "title": ["Refunds", "Passwords"], "body": ["How to get a refund."] * 2})
QUERIES = pd.DataFrame({"query": ["refund please"], "kb_id": ["KB1"]})


def project_with(tmp_path, monkeypatch, params, tickets):
    """A project folder holding these raw tables, the expectation suites and `params` as params.yaml."""
    for table in ("tickets", "kb", "queries"):
        params["validate"][table]["min_rows"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(PROJECT / "expectations", tmp_path / "expectations")
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    for name, frame in (("tickets", tickets), ("kb", KB), ("queries", QUERIES)):
        frame.to_csv(raw / f"{name}.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return raw


def test_the_stage_exits_1_on_a_failure_and_writes_nothing_downstream(tickets, params, tmp_path, monkeypatch, capsys):
    tickets.loc[0, "label"] = "refunds"
    project_with(tmp_path, monkeypatch, params, tickets)
    assert validate.main() == 1
    err = capsys.readouterr().err
    assert err.splitlines()[:2] == [
        "validate: FAILED: 1 expectation(s) not met; nothing downstream runs.",
        "  expect_column_values_to_be_in_set on tickets.label",
    ]
    assert "Data Docs: reports/validation/index.html" in err
    assert not (tmp_path / "data" / "validated").exists() and not (tmp_path / "metrics").exists()


def test_the_stage_copies_valid_data_byte_for_byte_and_records_its_checks(
    tickets, params, tmp_path, monkeypatch, capsys
):
    raw = project_with(tmp_path, monkeypatch, params, tickets)
    assert validate.main() == 0
    for name in ("tickets", "kb", "queries"):
        assert (tmp_path / "data" / "validated" / f"{name}.csv").read_bytes() == (raw / f"{name}.csv").read_bytes()
    summary = json.loads((tmp_path / "metrics" / "validate.json").read_text())["validation"]
    assert summary["tickets"] == {"rows": 8, "expectations": 16, "failed": 0}
    assert summary["queries"]["rows"] == 1 and summary["kb"]["rows"] == 2
    assert capsys.readouterr().out.startswith("validate: all expectations met (tickets: 8 rows, 16 checks, kb: 2 rows")


def test_missing_raw_files_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError, match="input file not found: data/raw/tickets.csv, data/raw/kb.csv"):
        validate.main()
