"""Stage `split`: stratified train/test split of the validated tickets.

The split is scikit-learn's `train_test_split(..., stratify=labels,
random_state=seed)`, row for row, written with NumPy alone: importing
scikit-learn costs this short stage more than the split itself (about 1.5 s of
CPU against 0.1 s for 2,000 tickets). The project's tests check that both give
the same rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..io import read_csv, write_csv
from ..params import load_params
from ..runner import StageError, run_stage

OUT_DIR = Path("data/split")


def approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `n_draws` rows each class gets: proportional shares, the rest by largest remainder.

    Ties between equal remainders are broken with `rng`, exactly as
    `sklearn.utils.extmath._approximate_mode` breaks them.
    """
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def stratified_split(labels: np.ndarray, test_size: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (train, test) of a stratified shuffle split of `labels`.

    `test_size` is a fraction in (0, 1) or a number of rows. Each class keeps
    its share in both parts; which rows go where is drawn with
    `numpy.random.RandomState(seed)` in scikit-learn's order.
    """
    n_rows = len(labels)
    if isinstance(test_size, float) and 0 < test_size < 1:
        n_test = math.ceil(test_size * n_rows)
    elif isinstance(test_size, int) and not isinstance(test_size, bool) and 0 < test_size < n_rows:
        n_test = test_size
    else:
        raise StageError(f"split.test_size must be a fraction in (0, 1) or a number of rows, not {test_size!r}")
    n_train = n_rows - n_test
    classes, y_indices, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    if n_train < len(classes) or n_test < len(classes):
        raise StageError(
            f"split.test_size={test_size} leaves {n_train} train and {n_test} test tickets; "
            f"each part needs at least one per label ({len(classes)} labels)"
        )
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = approximate_mode(class_counts, n_train, rng)
    t_i = approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(len(classes)):
        rows = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.append(rows[: n_i[i]])
        test.append(rows[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def main() -> int:
    params = load_params()["split"]
    tickets = read_csv("data/validated/tickets.csv").sort_values("id", kind="stable")
    counts = tickets["label"].value_counts()
    if len(counts) < 2 or counts.min() < 2:
        raise StageError(
            f"every label needs at least 2 tickets and there must be 2 labels or more to split; got {counts.to_dict()}"
        )
    labels = tickets["label"].to_numpy(dtype=object)
    train_rows, test_rows = stratified_split(labels, params["test_size"], params["seed"])
    # `tickets` is sorted by id and ids are unique (validated): rows in position order are rows in id order
    train, test = tickets.iloc[np.sort(train_rows)], tickets.iloc[np.sort(test_rows)]
    write_csv(train, OUT_DIR / "train.csv")
    write_csv(test, OUT_DIR / "test.csv")
    print(f"split: {len(train)} train / {len(test)} test tickets")
    return 0


if __name__ == "__main__":
    run_stage(main)
