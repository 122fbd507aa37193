"""The expectation suites, run for real with Great Expectations on small frames."""

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages.validate import resolve, validate_frames


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
