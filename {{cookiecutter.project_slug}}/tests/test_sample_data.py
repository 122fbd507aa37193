import pytest

from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.stages.sample_data import generate


@pytest.fixture
def params():
    return {**load_params()["data"], "n_tickets": 300}


def test_same_seed_gives_identical_data(params):
    first, second = generate(params), generate(params)
    for a, b in zip(first, second, strict=True):
        assert a.to_csv() == b.to_csv()


def test_other_seed_gives_other_tickets(params):
    assert generate(params)[0].to_csv() != generate({**params, "seed": params["seed"] + 1})[0].to_csv()


def test_data_fits_the_pipeline_contracts(params):
    tickets, kb, queries = generate(params)
    assert len(tickets) == 300 and tickets["id"].is_unique
    assert set(tickets["label"]) <= set(load_params()["validate"]["labels"])
    assert set(queries["kb_id"]) <= set(kb["id"])
    assert not set(queries["query"]) & set(kb["title"])  # paraphrases, not copies


def test_label_noise_outside_zero_to_one_is_refused(params):
    with pytest.raises(ValueError, match="label_noise"):
        generate({**params, "label_noise": 1.5})
