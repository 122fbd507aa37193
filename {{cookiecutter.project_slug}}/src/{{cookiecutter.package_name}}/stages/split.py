"""Stage `split`: stratified train/test split of the validated tickets."""

from __future__ import annotations

from pathlib import Path

from sklearn.model_selection import train_test_split

from ..io import read_csv, write_csv
from ..params import load_params
from ..runner import StageError, run_stage

OUT_DIR = Path("data/split")


def main() -> int:
    params = load_params()["split"]
    tickets = read_csv("data/validated/tickets.csv").sort_values("id", kind="stable")
    counts = tickets["label"].value_counts()
    if len(counts) < 2 or counts.min() < 2:
        raise StageError(
            f"every label needs at least 2 tickets and there must be 2 labels or more to split; got {counts.to_dict()}"
        )
    train, test = train_test_split(
        tickets, test_size=params["test_size"], random_state=params["seed"], stratify=tickets["label"]
    )
    write_csv(train.sort_values("id", kind="stable"), OUT_DIR / "train.csv")
    write_csv(test.sort_values("id", kind="stable"), OUT_DIR / "test.csv")
    print(f"split: {len(train)} train / {len(test)} test tickets")
    return 0


if __name__ == "__main__":
    run_stage(main)
