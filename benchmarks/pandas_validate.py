"""The checks of the generated project's expectation suites, in plain pandas: the baseline for `validate`.

Run from a baked project's folder (`python pandas_validate.py`), it does what the
`validate` stage does, without Great Expectations: read data/raw/{tickets,kb,queries}.csv
the same way, parse the timestamp columns the same way, run the same checks
with the values from params.yaml, and copy the files to data/validated/. It
writes no Data Docs. The benchmark times it against the stage's own command on
the same inputs, so the ratio is what Great Expectations costs over pandas.

Each check mirrors one expectation in expectations/*.json; map expectations
skip nulls, as GX's do. Exits 1 and prints the failed checks if any fails.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import yaml

RAW_DIR, OUT_DIR = Path("data/raw"), Path("data/validated")


def read_csv(path: Path) -> pd.DataFrame:
    """As the project's io.read_csv: ids as strings, only empty cells are missing."""
    return pd.read_csv(path, dtype={"id": str, "kb_id": str}, keep_default_na=False, na_values=[""])


def lengths_between(values: pd.Series, bounds: dict) -> bool:
    lengths = values.dropna().astype(str).str.len()
    return bool(lengths.between(bounds["min"], bounds["max"]).all())


def unique(values: pd.Series) -> bool:
    return not values.dropna().duplicated().any()


def check_tickets(df: pd.DataFrame, settings: dict) -> dict[str, bool]:
    tickets, labels = settings["tickets"], settings["labels"]
    created = pd.to_datetime(df["created_at"], format="ISO8601", utc=True, errors="coerce").dt.tz_localize(None)
    low, high = (pd.Timestamp(tickets["created_at"][key]) for key in ("min", "max"))
    return {
        "row count": tickets["min_rows"] <= len(df) <= tickets["max_rows"],
        "columns exist": {"id", "text", "label", "created_at", "channel"} <= set(df.columns),
        "id not null": bool(df["id"].notna().all()),
        "id unique": unique(df["id"]),
        "text not null": bool(df["text"].notna().all()),
        "text length": lengths_between(df["text"], tickets["text_length"]),
        "label not null": bool(df["label"].notna().all()),
        "label in set": bool(df["label"].dropna().isin(labels).all()),
        "every label present": set(labels) <= set(df["label"].dropna().unique()),
        "created_at not null": bool(created.notna().all()),
        "created_at between": bool(created.dropna().between(low, high).all()),
        "channel in set": bool(df["channel"].dropna().isin(tickets["channels"]).all()),
    }


def check_kb(df: pd.DataFrame, settings: dict) -> dict[str, bool]:
    kb = settings["kb"]
    return {
        "row count": len(df) >= kb["min_rows"],
        "columns exist": {"id", "title", "body"} <= set(df.columns),
        "id not null": bool(df["id"].notna().all()),
        "id unique": unique(df["id"]),
        "title not null": bool(df["title"].notna().all()),
        "title length": lengths_between(df["title"], kb["title_length"]),
        "body not null": bool(df["body"].notna().all()),
        "body length": lengths_between(df["body"], kb["body_length"]),
    }


def check_queries(df: pd.DataFrame, kb: pd.DataFrame, settings: dict) -> dict[str, bool]:
    return {
        "row count": len(df) >= settings["queries"]["min_rows"],
        "columns exist": {"query", "kb_id"} <= set(df.columns),
        "query not null": bool(df["query"].notna().all()),
        "query unique": unique(df["query"]),
        "kb_id references kb.id": bool(df["kb_id"].dropna().isin(kb["id"].dropna()).all()),
    }


def main() -> int:
    with open("params.yaml", encoding="utf-8") as f:
        settings = yaml.safe_load(f)["validate"]
    frames = {table: read_csv(RAW_DIR / f"{table}.csv") for table in ("tickets", "kb", "queries")}
    results = {
        "tickets": check_tickets(frames["tickets"], settings),
        "kb": check_kb(frames["kb"], settings),
        "queries": check_queries(frames["queries"], frames["kb"], settings),
    }
    failed = [f"{table}: {name}" for table, checks in results.items() for name, ok in checks.items() if not ok]
    if failed:
        print("pandas_validate: FAILED:", *failed, sep="\n  ", file=sys.stderr)
        return 1
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for table in frames:
        shutil.copyfile(RAW_DIR / f"{table}.csv", OUT_DIR / f"{table}.csv")
    print(f"pandas_validate: {sum(len(c) for c in results.values())} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
