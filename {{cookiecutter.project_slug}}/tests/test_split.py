import shutil
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages import split
from {{ cookiecutter.package_name }}.stages.split import split_tickets

PARAMS = Path("params.yaml").resolve()


def tickets_with(counts: dict[str, int]) -> pd.DataFrame:
    labels = [label for label, n in counts.items() for _ in range(n)]
    # ids in reverse order of the rows: the split must not depend on the file's row order
    return pd.DataFrame({"id": [f"T{i:03d}" for i in reversed(range(len(labels)))], "label": labels})


def test_every_label_keeps_its_share_in_train_and_test():
    tickets = tickets_with({"billing": 40, "bug": 40, "shipping": 10, "account_access": 10})
    train, test = split_tickets(tickets, test_size=0.2, seed=42)
    assert len(train) == 80 and len(test) == 20
    assert test["label"].value_counts().to_dict() == {"billing": 8, "bug": 8, "shipping": 2, "account_access": 2}
    assert set(train["id"]) | set(test["id"]) == set(tickets["id"]) and not set(train["id"]) & set(test["id"])


def test_both_halves_are_sorted_by_id_and_the_split_ignores_row_order():
    tickets = tickets_with({"billing": 10, "bug": 10})
    train, test = split_tickets(tickets, test_size=0.3, seed=7)
    assert train["id"].tolist() == sorted(train["id"]) and test["id"].tolist() == sorted(test["id"])
    shuffled_train, shuffled_test = split_tickets(tickets.sample(frac=1, random_state=1), test_size=0.3, seed=7)
    assert shuffled_test["id"].tolist() == test["id"].tolist()
    assert shuffled_train["id"].tolist() == train["id"].tolist()
    other_seed = split_tickets(tickets, test_size=0.3, seed=8)[1]
    assert other_seed["id"].tolist() != test["id"].tolist()


@pytest.mark.parametrize("counts", [{"billing": 5}, {"billing": 5, "bug": 1}], ids=["one-label", "a-single-ticket"])
def test_too_few_tickets_to_stratify_are_refused(counts):
    with pytest.raises(StageError, match="every label needs at least 2 tickets"):
        split_tickets(tickets_with(counts), test_size=0.5, seed=0)


def test_two_labels_of_two_tickets_each_are_enough():
    train, test = split_tickets(tickets_with({"billing": 2, "bug": 2}), test_size=0.5, seed=0)
    assert sorted(test["label"]) == ["billing", "bug"] and sorted(train["label"]) == ["billing", "bug"]


def test_the_stage_writes_both_halves_and_says_how_many(tmp_path, monkeypatch, capsys):
    shutil.copy(PARAMS, tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    tickets = tickets_with({"billing": 10, "bug": 10}).assign(text="some text")
    (tmp_path / "data" / "validated").mkdir(parents=True)
    tickets.to_csv(tmp_path / "data" / "validated" / "tickets.csv", index=False)
    assert split.main() == 0
    params = load_params()["split"]
    expected_train, expected_test = split_tickets(tickets, params["test_size"], params["seed"])
    train = pd.read_csv(tmp_path / "data" / "split" / "train.csv", dtype=str)
    test = pd.read_csv(tmp_path / "data" / "split" / "test.csv", dtype=str)
    assert train["id"].tolist() == expected_train["id"].tolist() and test["id"].tolist() == expected_test["id"].tolist()
    assert train.columns.tolist() == ["id", "label", "text"]
    assert capsys.readouterr().out == f"split: {len(train)} train / {len(test)} test tickets\n"
