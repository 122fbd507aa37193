"""Stage `validate`: run the Great Expectations suites on the raw data.

The suites are plain JSON files in `expectations/`, versioned in git. Values
that depend on the dataset are placeholders filled in at run time:
``${params.<dotted key>}`` from params.yaml (allowed labels, bounds) and
``${data.<table>.<column>}`` from another table (referential integrity).

Timestamp columns (`validate.datetime_columns`) are parsed before the checks;
a value that is not an ISO 8601 timestamp fails the not-null check.

On success the data is written to `data/validated/`, the only input training
reads. On failure the stage prints which expectation failed, observed against
expected, with a few offending rows, writes Data Docs under
`reports/validation/`, and exits 1 so that nothing downstream runs.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import copy_file, read_csv, read_json, write_json
from ..params import load_params
from ..runner import StageError, run_stage

TABLES = ("tickets", "kb", "queries")
RAW_DIR = Path("data/raw")
OUT_DIR = Path("data/validated")
SUITES_DIR = Path("expectations")
DOCS_DIR = Path("reports/validation")
METRICS_FILE = Path("metrics/validate.json")
# What an expectation without arguments asks for, in words.
PLAIN_EXPECTATIONS = {
    "expect_column_to_exist": "the column is present",
    "expect_column_values_to_not_be_null": "no empty values",
    "expect_column_values_to_be_unique": "every value unique",
}
PLACEHOLDER = re.compile(r"^\$\{(params|data)\.([^}]+)\}$")


def resolve(value: Any, params: dict[str, Any], frames: dict[str, pd.DataFrame], used: set[str] | None = None) -> Any:
    """Replace ``${params.a.b}`` and ``${data.table.column}`` placeholders, recursively.

    With `used` (the distinct values of the column a set-membership check
    looks at), a ``${data...}`` set keeps only the values in `used`: the check
    passes and fails on exactly the same rows, and GX, which handles its
    arguments in pure Python dozens of times, is not handed every id of a large
    table (100 k KB ids cost it ~20 s; the used ones, milliseconds).
    """
    if isinstance(value, dict):
        return {k: resolve(v, params, frames, used) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params, frames, used) for v in value]
    match = PLACEHOLDER.match(value) if isinstance(value, str) else None
    if not match:
        return value
    source, path = match.groups()
    if source == "params":
        node: Any = params
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise StageError(f"params.yaml has no key {path!r} (used by an expectation suite)")
            node = node[part]
        return node
    table, column = path.split(".", 1)
    frame = frames.get(table)
    if frame is None or column not in frame.columns:
        return []  # the missing table or column fails its own expectations
    values = frame[column].dropna().astype(str).unique()
    if used is not None:
        values = values[pd.Series(values).isin(used).to_numpy()]
    return sorted(values.tolist())


def with_datetimes(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A copy with `columns` parsed as ISO 8601 in UTC; unparseable values become null.

    Timestamps without an offset are read as UTC; those with one are converted.

    GX compares datetime bounds only with datetime columns; the null checks in
    the suite then catch values that are not timestamps. The copy is shallow:
    only the parsed columns are new, the other columns are shared.
    """
    parsed = frame.copy(deep=False)
    for column in columns:
        if column in parsed.columns:
            values = pd.to_datetime(parsed[column], format="ISO8601", utc=True, errors="coerce").dt.tz_localize(None)
            parsed[column] = as_nanoseconds(values)
    return parsed


def as_nanoseconds(values: pd.Series) -> pd.Series:
    """`values` as datetime64[ns] when every value fits (years 1678-2261), else unchanged.

    GX compares a datetime64[ns] column with its bounds in one vectorised step,
    but calls a Python function per row for any other resolution (pandas 3
    parses to seconds or microseconds): 1 M timestamps cost ~6 s that way and
    ~0.01 s this way. Values outside the nanosecond range keep the slow path,
    which still reports them correctly.
    """
    lowest, highest = pd.Timestamp.min, pd.Timestamp.max
    present = values.dropna()
    if values.dtype == "datetime64[ns]" or (len(present) and (present.min() < lowest or present.max() > highest)):
        return values
    return values.astype("datetime64[ns]")


def load_suite(name: str, params: dict[str, Any], frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Read `expectations/<name>.json` and fill in its placeholders.

    A set-membership check gets its ``${data...}`` set cut down to the values
    its column uses (see `resolve`).
    """
    suite = read_json(SUITES_DIR / f"{name}.json")
    frame = frames.get(name)
    expectations = []
    for expectation in suite.get("expectations", []):
        column = expectation.get("kwargs", {}).get("column")
        used = None
        if expectation.get("type") == "expect_column_values_to_be_in_set" and frame is not None and column in frame:
            used = set(frame[column].dropna().astype(str).unique().tolist())
        expectations.append(resolve(expectation, params, frames, used))
    header = resolve({k: v for k, v in suite.items() if k != "expectations"}, params, frames)
    return {**header, "expectations": expectations}


def run_suites(frames: dict[str, pd.DataFrame], suites: dict[str, dict[str, Any]], docs_dir: Path) -> dict[str, Any]:
    """Validate every frame with its suite in an ephemeral GX context; build Data Docs.

    Returns {table: ExpectationSuiteValidationResult}. The ephemeral context
    writes nothing but the Data Docs, so the repository stays clean.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.execution_engine import pandas_execution_engine

    from ..data_docs import make_offline, page_view_config

    # GX fingerprints an in-memory batch by hashing every row unless its (shallow) size is above this
    # threshold: 2.5 s for 1 M tickets, for a label in Data Docs that nothing reads. Set it to skip.
    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    context.add_data_docs_site(
        site_name="local",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "site_section_builders": page_view_config(),  # data values escaped
        },
    )
    source = context.data_sources.add_pandas("raw")
    results = {}
    for table, frame in frames.items():
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(table)
        suite = context.suites.add(gx.ExpectationSuite(**suites[table]))
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=table, data=batch, suite=suite))
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"validate_{table}",
                validation_definitions=[definition],
                result_format={"result_format": "SUMMARY"},
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["local"])],
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": frame})
        results[table] = next(iter(run.run_results.values()))
    make_offline(docs_dir)  # the pages' styles and scripts from vendor/, not from CDNs
    return results


def describe_failure(table: str, result: dict[str, Any], frame: pd.DataFrame, max_rows: int) -> str:
    """One readable paragraph for a failed expectation (from its JSON dict).

    `frame` is the data as read from the CSV, so offending values are shown as
    the user wrote them.
    """
    config = result["expectation_config"]
    kwargs = {k: v for k, v in config["kwargs"].items() if k not in ("batch_id", "result_format")}
    column = kwargs.pop("column", None)
    target = f"{table}.{column}" if column else table
    expected = ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items()) or PLAIN_EXPECTATIONS.get(config["type"], "-")
    lines = [f"  {config['type']} on {target}", f"    expected: {expected}"]
    if config.get("meta", {}).get("why"):
        lines.append(f"    why: {config['meta']['why']}")
    observed = result.get("result", {})
    errors = _exception_messages(result.get("exception_info") or {})
    if column and column not in frame.columns:
        lines.append(f"    observed: column {column!r} is missing (columns: {', '.join(map(str, frame.columns))})")
    elif observed.get("unexpected_count") is not None:
        count = observed["unexpected_count"]
        lines.append(f"    observed: {count} of {observed.get('element_count', len(frame))} rows unexpected")
        rows = [r for r in observed.get("partial_unexpected_index_list") or [] if r in frame.index][:max_rows]
        raw = frame.loc[rows, column].tolist() if rows else (observed.get("partial_unexpected_list") or [])
        sample = ["" if pd.isna(value) else value for value in raw]  # an empty CSV cell, as the user sees it
        if len(sample):
            lines.append(f"    e.g.: {_short(sample[:max_rows])}")
        if rows and "id" in frame.columns:
            ids = ["(empty)" if pd.isna(value) else str(value) for value in frame.loc[rows, "id"]]
            lines.append(f"    rows: id {', '.join(ids)}")
        elif rows:
            lines.append(f"    rows: {', '.join(str(r + 2) for r in rows)} (line numbers in the CSV)")
    elif errors:
        lines.append(f"    observed: error: {errors[0]}")
    else:
        lines.append(f"    observed: {_short(observed.get('observed_value'))}")
    return "\n".join(lines)


def _exception_messages(info: dict[str, Any]) -> list[str]:
    """GX reports errors either at the top level or keyed by the failing metric."""
    if info.get("raised_exception"):
        return [str(info.get("exception_message"))]
    return [str(v["exception_message"]) for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_frames(
    frames: dict[str, pd.DataFrame], params: dict[str, Any], docs_dir: Path
) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Run every table's suite; return a per-table summary and the failure descriptions."""
    settings = params["validate"]
    suites = {table: load_suite(table, params, frames) for table in frames}
    datetimes = settings["datetime_columns"]
    checked = {table: with_datetimes(frame, datetimes.get(table, [])) for table, frame in frames.items()}
    shutil.rmtree(docs_dir, ignore_errors=True)
    results = run_suites(checked, suites, docs_dir)

    summary, failures = {}, []
    for table, result in results.items():
        checks = [r.to_json_dict() for r in result.results]
        failed = [c for c in checks if not c["success"]]
        summary[table] = {"rows": len(frames[table]), "expectations": len(checks), "failed": len(failed)}
        failures += [describe_failure(table, c, frames[table], settings["max_failed_rows_shown"]) for c in failed]
    return summary, failures


def main() -> int:
    missing = [str(RAW_DIR / f"{t}.csv") for t in TABLES if not (RAW_DIR / f"{t}.csv").exists()]
    if missing:
        raise StageError(f"input file not found: {', '.join(missing)}")
    frames = {table: read_csv(RAW_DIR / f"{table}.csv") for table in TABLES}
    summary, failures = validate_frames(frames, load_params(), DOCS_DIR)

    docs = DOCS_DIR / "index.html"
    if failures:
        print(f"validate: FAILED: {len(failures)} expectation(s) not met; nothing downstream runs.", file=sys.stderr)
        print("\n".join(failures), file=sys.stderr)
        print(f"Data Docs: {docs}", file=sys.stderr)
        return 1

    for table in TABLES:  # byte for byte: validation checks the data, it does not reformat it
        copy_file(RAW_DIR / f"{table}.csv", OUT_DIR / f"{table}.csv")
    write_json({"validation": summary}, METRICS_FILE)
    counts = ", ".join(f"{t}: {s['rows']} rows, {s['expectations']} checks" for t, s in summary.items())
    print(f"validate: all expectations met ({counts}). Data Docs: {docs}")
    return 0


if __name__ == "__main__":
    run_stage(main)
