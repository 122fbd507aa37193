import pytest

from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.stages.sample_data import NO_ANSWER_QUERIES, generate


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
    assert set(queries["kb_id"].dropna()) <= set(kb["id"])
    assert not set(queries["query"]) & set(kb["title"])  # paraphrases, not copies
    assert queries["query"].is_unique


def test_queries_have_a_slice_and_some_have_no_answer(params):
    _, kb, queries = generate(params)
    no_answer = queries[queries["kb_id"].isna()]
    assert len(no_answer) == len(NO_ANSWER_QUERIES) == 20
    assert set(no_answer["slice"]) == {"out_of_scope"}
    answerable = queries[queries["kb_id"].notna()]
    labels = dict(zip(kb["id"], kb["label"], strict=True))
    assert answerable["slice"].tolist() == [labels[kb_id] for kb_id in answerable["kb_id"]]
    assert queries.index[queries["kb_id"].isna()].min() == len(answerable)  # after every answerable query


def test_label_noise_outside_zero_to_one_is_refused(params):
    with pytest.raises(ValueError, match="label_noise"):
        generate({**params, "label_noise": 1.5})


def test_a_larger_kb_adds_distinct_articles_and_keeps_everything_else(params):
    tickets, kb, queries = generate(params)
    big_tickets, big_kb, big_queries = generate({**params, "n_kb_articles": 3000})
    assert big_tickets.equals(tickets) and big_queries.equals(queries)
    assert big_kb.head(len(kb)).equals(kb)  # the topic articles first, unchanged
    assert len(big_kb) == 3000 and big_kb["id"].is_unique and (big_kb["title"] + big_kb["body"]).is_unique
    assert set(big_kb["label"]) <= set(load_params()["validate"]["labels"])


def test_a_kb_smaller_than_the_topic_list_is_refused(params):
    with pytest.raises(ValueError, match="n_kb_articles"):
        generate({**params, "n_kb_articles": 3})
