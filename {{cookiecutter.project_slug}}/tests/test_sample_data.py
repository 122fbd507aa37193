from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.params import load_params
from {{ cookiecutter.package_name }}.stages import sample_data
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


def test_make_sample_data_writes_the_three_files_and_says_so(params, tmp_path, monkeypatch, capsys):
    text = Path("params.yaml").read_text(encoding="utf-8").replace("n_tickets: 2000", "n_tickets: 40")
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert sample_data.main() == 0
    tickets, kb, queries = generate({**params, "n_tickets": 40})
    for name, frame in (("tickets", tickets), ("kb", kb), ("queries", queries)):
        assert (tmp_path / "data" / "raw" / f"{name}.csv").read_text() == frame.to_csv(index=False, lineterminator="\n")
    assert capsys.readouterr().out == (
        f"sample_data: wrote 40 tickets, {len(kb)} KB articles and {len(queries)} queries to data/raw/\n"
    )


@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_label_noise_at_either_end_is_allowed_and_relabels_that_share(params, noise):
    clean, _, _ = generate({**params, "label_noise": 0.0})
    tickets, _, _ = generate({**params, "label_noise": noise})
    assert (tickets["label"] != clean["label"]).sum() == round(noise * len(clean))


def test_the_kb_has_room_for_every_combination_and_no_more(params):
    topics = len(sample_data.TOPICS)
    space = int(
        np.prod([len(part) for part in (sample_data.KB_PRODUCTS, sample_data.KB_EDITIONS, sample_data.KB_TASKS)])
        * len(sample_data.KB_PLATFORMS)
        * len(sample_data.KB_FIRMWARE)
    )
    with pytest.raises(
        ValueError, match=f"^data.n_kb_articles can be at most {topics + space}, got {topics + space + 1}$"
    ):
        sample_data.generate_kb(topics + space + 1, np.random.default_rng(0))
    with pytest.raises(
        ValueError, match=f"^data.n_kb_articles must be at least the number of topics \\({topics}\\), got 3$"
    ):
        sample_data.generate_kb(3, np.random.default_rng(0))
    assert len(sample_data.generate_kb(topics, np.random.default_rng(0))) == topics


def test_timestamps_cover_the_whole_last_day_and_refuse_a_reversed_range():
    stamps = sample_data.random_timestamps(2000, "2024-01-01", "2024-01-01", np.random.default_rng(0))
    assert stamps == sorted(stamps) and stamps[0] >= "2024-01-01T00:00:00" and stamps[-1] <= "2024-01-01T23:59:59"
    assert stamps[-1] >= "2024-01-01T23:00:00" and len(stamps[0]) == 19
    with pytest.raises(ValueError, match=r"^data.end_date \(2023-12-31\) must not be before data.start_date \(2024"):
        sample_data.random_timestamps(1, "2024-01-01", "2023-12-31", np.random.default_rng(0))


def test_weighted_pick_draws_like_numpy_choice():
    weights = [0.5, 0.2, 0.3]
    cdf = sample_data.cumulative_weights(weights)
    assert cdf.tolist() == pytest.approx([0.5, 0.7, 1.0])
    ours = [
        sample_data.weighted_pick(rng, ["a", "b", "c"], cdf) for rng in [np.random.default_rng(7)] for _ in range(50)
    ]
    rng = np.random.default_rng(7)
    assert ours == [str(rng.choice(["a", "b", "c"], p=weights)) for _ in range(50)]
