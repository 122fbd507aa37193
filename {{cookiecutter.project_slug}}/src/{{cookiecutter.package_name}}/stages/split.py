"""Stage `split`: stratified train/test split of the validated tickets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from ..io import read_csv, write_csv
from ..params import load_params
from ..runner import StageError, run_stage

OUT_DIR = Path("data/split")


def split_tickets(tickets: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test tickets, each label in the same proportion in both, each sorted by id.

    Sorting by id first makes the split independent of the row order of the input file.
    """
    tickets = tickets.sort_values("id", kind="stable")
    counts = tickets["label"].value_counts()
    if len(counts) < 2 or counts.min() < 2:
        raise StageError(
            f"every label needs at least 2 tickets and there must be 2 labels or more to split; got {counts.to_dict()}"
        )
    train, test = train_test_split(tickets, test_size=test_size, random_state=seed, stratify=tickets["label"])
    return train.sort_values("id", kind="stable"), test.sort_values("id", kind="stable")


def main() -> int:
    params = load_params()["split"]
    train, test = split_tickets(read_csv("data/validated/tickets.csv"), params["test_size"], params["seed"])
    write_csv(train, OUT_DIR / "train.csv")
    write_csv(test, OUT_DIR / "test.csv")
    print(f"split: {len(train)} train / {len(test)} test tickets")
    return 0


if __name__ == "__main__":
    run_stage(main)
