"""Stage `split`: stratified train/test split of the validated tickets."""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.model_selection import train_test_split

from ..io import read_csv, write_csv
from ..params import load_params

OUT_DIR = Path("data/split")


def main() -> int:
    params = load_params()["split"]
    tickets = read_csv("data/validated/tickets.csv").sort_values("id", kind="stable")
    train, test = train_test_split(
        tickets, test_size=params["test_size"], random_state=params["seed"], stratify=tickets["label"]
    )
    write_csv(train.sort_values("id", kind="stable"), OUT_DIR / "train.csv")
    write_csv(test.sort_values("id", kind="stable"), OUT_DIR / "test.csv")
    print(f"split: {len(train)} train / {len(test)} test tickets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
