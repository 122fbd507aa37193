import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package_name }}.runner import StageError
from {{ cookiecutter.package_name }}.stages.split import stratified_split


@pytest.mark.parametrize("seed", [0, 42, 7])
@pytest.mark.parametrize("test_size", [0.2, 0.33, 25])
def test_split_gives_the_rows_scikit_learn_gives(seed, test_size):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["billing", "shipping", "account_access", "bug"], size=301, p=[0.4, 0.3, 0.2, 0.1])
    frame = pd.DataFrame({"row": np.arange(len(labels)), "label": labels})
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=frame["label"])
    ours = stratified_split(labels.astype(object), test_size, seed)
    assert ours[0].tolist() == train["row"].tolist()
    assert ours[1].tolist() == test["row"].tolist()


def test_a_test_size_that_leaves_a_label_out_is_refused():
    with pytest.raises(StageError, match="at least one per label"):
        stratified_split(np.array(["a", "a", "b", "b", "c", "c"], dtype=object), 2, 0)
