"""`make sample-data`: write realistic, seeded demo data to `data/raw/`.

The project ships with demo data so that every stage (training, the
knowledge-base index, evaluation and its quality gates) runs from the first
minute. This module generated those files and regenerates them on demand
(`python -m {{ cookiecutter.package_name }}.stages.sample_data`, or `make sample-data`): it is a
command, not a pipeline stage, so files you put in `data/raw/` by hand are
never overwritten by `dvc repro`. It writes three CSVs:

* `tickets.csv`: support tickets (`id, text, label, created_at, channel,
  customer_tier, language`) written the way customers write: varied openers,
  order numbers, devices and amounts, the odd typo, asides that mention other
  topics, and a fraction of deliberately wrong labels (`label_noise`). The
  classes overlap on purpose so that a good classifier scores well but never
  perfectly, which keeps the quality gates meaningful.
* `kb.csv`: knowledge-base articles (`id, title, body, label`): one per topic,
  then, up to `n_kb_articles`, generated product how-tos (the long tail of a
  real help centre, and a way to try the pipeline on a large corpus).
* `queries.csv`: golden retrieval cases (`query, kb_id, slice`): paraphrased
  questions whose answer is article `kb_id`, sliced by the article's label.
  They avoid the article's wording where they can, so retrieval is a real test
  rather than string matching. Then questions on subjects the KB does not cover
  (gift cards, reseller programmes, ...): no `kb_id`, slice `out_of_scope`; on
  those, retrieval should answer "no answer".

Parameters (`data:` in params.yaml): `seed`,
`n_tickets`, `n_kb_articles` (at least the number of topics, 35),
`queries_per_article`, `label_noise` (fraction of tickets whose
label is replaced by a different one) and `start_date` / `end_date` (ISO dates;
`created_at` falls between the start of the first and the end of the last day).
The words and sentences come from `vocabulary.json` in this package.

Everything is drawn from `numpy.random.default_rng(seed)` in a fixed order, so
the same `data` parameters give byte-identical files in every process. The
column contracts above are what the rest of the pipeline relies on
(docs: bring your own data).
"""

from __future__ import annotations

import datetime as dt
import json
import string
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_csv
from ..params import load_params
from ..runner import run_stage

RAW_DIR = Path("data/raw")
LABELS = ["billing", "account_access", "shipping", "technical_issue", "product_question"]
# How often each ingredient of a ticket appears; tuned so a TF-IDF + logistic
# regression baseline lands around 0.85-0.9 accuracy, not at 1.0.
P_OPENER = 0.75
P_VAGUE = 0.1
P_SECOND_PHRASING = 0.35
P_FILLER = 0.35
P_ASIDE = 0.4
P_CLOSING = 0.7
P_TYPO = 0.2
P_LOWERCASE = 0.1


# The vocabulary is data: vocabulary.json, shipped inside the package. Per topic: its
# label, the KB article answering it (title and body sentences), ways customers
# describe it (`tickets`, with placeholders filled by `fill`) and paraphrased
# questions for retrieval; then the sentences and values a ticket is made of, and
# the parts of the generated KB articles.
VOCABULARY: dict[str, Any] = json.loads((Path(__file__).parents[1] / "vocabulary.json").read_text(encoding="utf-8"))
TOPICS: list[dict[str, Any]] = VOCABULARY["topics"]
# Sentences that mention one label's vocabulary; added to tickets of *other*
# labels to make the classes overlap the way real tickets do.
ASIDES: dict[str, list[str]] = VOCABULARY["asides"]
# Vague descriptions shared by all labels: a `P_VAGUE` fraction of tickets uses
# one of these instead of a clear description, so their label can only be
# guessed (from an aside, if any), as with real "it doesn't work" tickets.
VAGUE: list[str] = VOCABULARY["vague"]
OPENERS: list[str] = VOCABULARY["openers"]
FILLERS: list[str] = VOCABULARY["fillers"]
CLOSINGS: list[str] = VOCABULARY["closings"]
# Values for the placeholders in the phrasings above.
DEVICES: list[str] = VOCABULARY["devices"]
BROWSERS: list[str] = VOCABULARY["browsers"]
CARRIERS: list[str] = VOCABULARY["carriers"]
COUNTRIES: list[str] = VOCABULARY["countries"]
PRODUCTS: list[str] = VOCABULARY["products"]
NAMES: list[str] = VOCABULARY["names"]
ERROR_CODES: list[str] = VOCABULARY["error_codes"]
# Channels and tiers, with weights.
CHANNELS = (["email", "chat", "web", "phone"], [0.4, 0.3, 0.2, 0.1])
TIERS = (["free", "pro", "enterprise"], [0.5, 0.35, 0.15])
# How often each label occurs among tickets.
LABEL_WEIGHTS = [0.25, 0.2, 0.2, 0.2, 0.15]

# Generated KB articles beyond the topic ones (`n_kb_articles`): product how-tos
# and troubleshooting notes, the long tail of a real help centre. A title is one
# combination of (product, edition, task, platform, firmware); its body is the
# task's steps plus a tip. Their subjects stay clear of the topic articles, so the
# golden queries keep pointing at the topic articles while retrieval gets harder.
KB_PRODUCTS: list[str] = VOCABULARY["kb_products"]
KB_EDITIONS: list[str] = VOCABULARY["kb_editions"]
KB_PLATFORMS: list[str] = VOCABULARY["kb_platforms"]
KB_FIRMWARE = [f"{major}.{minor}" for major in range(1, 10) for minor in range(10)]
# (title, label, steps): `{product}`, `{platform}` and `{firmware}` are filled in per article.
KB_TASKS: list[tuple[str, str, list[str]]] = [tuple(task) for task in VOCABULARY["kb_tasks"]]
KB_TIPS: list[str] = VOCABULARY["kb_tips"]
# Last line of every generated article: it makes each (product, platform, firmware) variant a distinct document.
KB_APPLIES_TO: str = VOCABULARY["kb_applies_to"]
# Golden queries on subjects no article covers: the right answer is "no answer".
NO_ANSWER_QUERIES: list[str] = VOCABULARY["no_answer_queries"]
NO_ANSWER_SLICE = "out_of_scope"


def pick(rng: np.random.Generator, items: list[Any]) -> Any:
    """Return one element of `items`, chosen uniformly with `rng`."""
    return items[int(rng.integers(len(items)))]


def weighted_pick(rng: np.random.Generator, items: list[Any], cdf: np.ndarray) -> Any:
    """`rng.choice(items, p=weights)` for one item, ~20x faster and with the same draw.

    `cdf` is `cumulative_weights(weights)`; like numpy's `choice`, this draws one
    `rng.random()` and looks it up in the normalised cumulative weights.
    """
    return items[int(cdf.searchsorted(rng.random(), side="right"))]


def cumulative_weights(weights: list[float]) -> np.ndarray:
    """The normalised cumulative weights, computed exactly as `Generator.choice` computes them."""
    cdf = np.asarray(weights, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


# The placeholders `fill` knows, each with the range of its random draw and how
# a draw becomes text. `fill` draws all of them, in this order, every time.
FILL_DATE0 = dt.date(2024, 1, 1)
DATES = [(FILL_DATE0 + dt.timedelta(days=d)).strftime("%B %d") for d in range(365)]
FILL_DRAWS: list[tuple[str, int, int]] = [  # (name, low, high): one `rng.integers(low, high)` each
    ("order", 100000, 999999),
    ("amount_dollars", 5, 400),
    ("amount_cents", 0, 100),
    ("date", 0, 365),
    ("device", 0, len(DEVICES)),
    ("browser", 0, len(BROWSERS)),
    ("carrier", 0, len(CARRIERS)),
    ("country", 0, len(COUNTRIES)),
    ("product", 0, len(PRODUCTS)),
    ("code", 0, len(ERROR_CODES)),
    ("tracking", 10**9, 10**10),
    ("name", 0, len(NAMES)),
    ("email", 0, len(NAMES)),
    ("years", 2, 9),
]
FILL_LOW = np.array([low for _, low, _ in FILL_DRAWS], dtype=np.int64)
FILL_HIGH = np.array([high for _, _, high in FILL_DRAWS], dtype=np.int64)
FILL_VALUES = {  # placeholder -> text, from the list `d` of the draws above
    "order": lambda d: f"#{d[0]}",
    "amount": lambda d: f"${d[1]}.{d[2]:02d}",
    "date": lambda d: DATES[d[3]],
    "device": lambda d: DEVICES[d[4]],
    "browser": lambda d: BROWSERS[d[5]],
    "carrier": lambda d: CARRIERS[d[6]],
    "country": lambda d: COUNTRIES[d[7]],
    "product": lambda d: PRODUCTS[d[8]],
    "code": lambda d: ERROR_CODES[d[9]],
    "tracking": lambda d: f"1Z{d[10]}",
    "name": lambda d: NAMES[d[11]],
    "email": lambda d: f"{NAMES[d[12]].lower()}@example.com",
    "years": lambda d: d[13],
}
_FIELDS: dict[str, list[str]] = {}  # template -> its placeholders, parsed once


def fill(template: str, rng: np.random.Generator) -> str:
    """Replace the placeholders in `template` with random but plausible values.

    Every value is drawn (in a fixed order) whether used or not, so the number
    of random draws does not depend on the template. The draws are one
    `rng.integers(FILL_LOW, FILL_HIGH)` call, which gives the same numbers as one
    scalar call per value in that order, at a third of the cost; only the
    placeholders the template uses are turned into text.
    """
    draws = rng.integers(FILL_LOW, FILL_HIGH).tolist()
    fields = _FIELDS.get(template)
    if fields is None:
        fields = _FIELDS[template] = sorted({f for _, f, _, _ in string.Formatter().parse(template) if f})
    return template.format(**{name: FILL_VALUES[name](draws) for name in fields})


def add_typo(text: str, rng: np.random.Generator) -> str:
    """Swap two adjacent letters or drop one letter in a random longer word."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not candidates:
        return text
    i = pick(rng, candidates)
    word = words[i]
    j = int(rng.integers(1, len(word) - 2))
    swap = rng.random() < 0.5
    words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :] if swap else word[:j] + word[j + 1 :]
    return " ".join(words)


def generate_kb(n_articles: int, rng: np.random.Generator) -> pd.DataFrame:
    """The knowledge base: one article per topic, then generated articles up to `n_articles`.

    Ids are `KB0001`, `KB0002`, ... with the topic articles first, in topic
    order. The generated articles are distinct combinations of product,
    edition, task, platform and firmware, drawn without replacement with `rng`;
    100 k of them take about a second.
    """
    if n_articles < len(TOPICS):
        raise ValueError(f"data.n_kb_articles must be at least the number of topics ({len(TOPICS)}), got {n_articles}")
    titles = [t["title"] for t in TOPICS]
    bodies = [" ".join(t["body"]) for t in TOPICS]
    labels = [t["label"] for t in TOPICS]
    n_extra = n_articles - len(TOPICS)
    if n_extra:
        sizes = [len(KB_PRODUCTS), len(KB_EDITIONS), len(KB_TASKS), len(KB_PLATFORMS), len(KB_FIRMWARE)]
        space = int(np.prod(sizes))
        if n_extra > space:
            raise ValueError(f"data.n_kb_articles can be at most {len(TOPICS) + space}, got {n_articles}")
        codes = rng.choice(space, size=n_extra, replace=False)
        # mixed-radix digits of each code: one index per part, computed for all articles at once
        digits = []
        for size in reversed(sizes):
            codes, digit = np.divmod(codes, size)
            digits.append(digit.tolist())
        firmware, platform, task, edition, product = digits
        tips = rng.integers(len(KB_TIPS), size=n_extra).tolist()
        for i in range(n_extra):
            values = {
                "product": KB_PRODUCTS[product[i]] + KB_EDITIONS[edition[i]],
                "platform": KB_PLATFORMS[platform[i]],
                "firmware": KB_FIRMWARE[firmware[i]],
            }
            title, label, steps = KB_TASKS[task[i]]
            titles.append(title.format(**values))
            bodies.append(" ".join(s.format(**values) for s in [*steps, KB_TIPS[tips[i]], KB_APPLIES_TO] if s))
            labels.append(label)
    return pd.DataFrame(
        {
            "id": [f"KB{i + 1:04d}" for i in range(n_articles)],
            "title": titles,
            "body": bodies,
            "label": labels,
        }
    )


OTHER_LABELS = {label: [other for other in LABELS if other != label] for label in LABELS}
CHANNEL_CDF = cumulative_weights(CHANNELS[1])
TIER_CDF = cumulative_weights(TIERS[1])


def ticket_text(topic: dict[str, Any], rng: np.random.Generator) -> str:
    """Write one ticket about `topic`: opener, problem, details, asides, closing, noise."""
    phrasings = topic["tickets"]
    first = int(rng.integers(len(phrasings)))
    vague = rng.random() < P_VAGUE
    body = [fill(pick(rng, VAGUE) if vague else phrasings[first], rng)]
    if not vague and rng.random() < P_SECOND_PHRASING:
        second = (first + 1 + int(rng.integers(len(phrasings) - 1))) % len(phrasings)
        body.append(fill(phrasings[second], rng))
    if rng.random() < P_FILLER:
        body.insert(int(rng.integers(len(body) + 1)), fill(pick(rng, FILLERS), rng))
    if rng.random() < P_ASIDE:
        other = pick(rng, OTHER_LABELS[topic["label"]])
        body.insert(int(rng.integers(len(body) + 1)), fill(pick(rng, ASIDES[other]), rng))
    parts = ([pick(rng, OPENERS)] if rng.random() < P_OPENER else []) + body
    if rng.random() < P_CLOSING:
        parts.append(fill(pick(rng, CLOSINGS), rng))
    text = " ".join(parts)
    if rng.random() < P_TYPO:
        for _ in range(int(rng.integers(1, 3))):
            text = add_typo(text, rng)
    if rng.random() < P_LOWERCASE:
        text = text.lower()
    return text


def random_timestamps(n: int, start: str, end: str, rng: np.random.Generator) -> list[str]:
    """`n` sorted ISO 8601 timestamps (seconds precision) from `start` 00:00 through `end` 23:59:59."""
    t0 = dt.datetime.fromisoformat(str(start))
    t1 = dt.datetime.fromisoformat(str(end)) + dt.timedelta(days=1)
    span = int((t1 - t0).total_seconds())
    if span <= 0:
        raise ValueError(f"data.end_date ({end}) must not be before data.start_date ({start})")
    offsets = np.sort(rng.integers(0, span, size=n))
    # numpy formats datetime64[s] exactly as datetime.isoformat(timespec="seconds"), for all n at once
    stamps = np.datetime64(t0.replace(microsecond=0), "s") + offsets.astype("timedelta64[s]")
    return np.datetime_as_string(stamps, unit="s").tolist()


def generate_tickets(
    n_tickets: int, label_noise: float, start_date: str, end_date: str, rng: np.random.Generator
) -> pd.DataFrame:
    """Generate `n_tickets` tickets in chronological order (ids `T000001`, ...).

    A label is drawn with `LABEL_WEIGHTS`, then a topic of that label uniformly;
    finally a `label_noise` fraction of tickets get a different, wrong label.
    Each ticket takes a few dozen draws from `rng` in a fixed order (about
    40 microseconds): 1 M tickets take well under a minute.
    """
    by_label = {label: [t for t in TOPICS if t["label"] == label] for label in LABELS}
    label_indices = rng.choice(len(LABELS), size=n_tickets, p=LABEL_WEIGHTS).tolist()
    texts, labels, channels, tiers = [], [], [], []
    for label_index in label_indices:
        topic = pick(rng, by_label[LABELS[label_index]])
        texts.append(ticket_text(topic, rng))
        labels.append(topic["label"])
        channels.append(weighted_pick(rng, CHANNELS[0], CHANNEL_CDF))
        tiers.append(weighted_pick(rng, TIERS[0], TIER_CDF))
    n_noisy = round(label_noise * n_tickets)
    for i in rng.choice(n_tickets, size=n_noisy, replace=False).tolist():
        labels[i] = pick(rng, OTHER_LABELS[labels[i]])

    return pd.DataFrame(
        {
            "id": [f"T{i + 1:06d}" for i in range(n_tickets)],
            "text": texts,
            "label": labels,
            "created_at": random_timestamps(n_tickets, start_date, end_date, rng),
            "channel": channels,
            "customer_tier": tiers,
            "language": "en",
        }
    )


def generate_queries(kb: pd.DataFrame, queries_per_article: int, rng: np.random.Generator) -> pd.DataFrame:
    """Pick `queries_per_article` paraphrased questions per topic article as golden retrieval cases.

    Paraphrases are drawn without repetition; if more are requested than a topic
    has, the list is reused with a different lead-in so queries stay distinct.
    Only the topic articles (the first rows of `kb`) get queries; each is sliced
    by its article's label. The questions the KB cannot answer follow, with no
    `kb_id` (they draw nothing from `rng`).
    """
    lead_ins = ["", "quick question: ", "help - ", "hi, "]
    rows = []
    for kb_id, topic in zip(kb["id"][: len(TOPICS)], TOPICS, strict=True):
        order = rng.permutation(len(topic["queries"]))
        for k in range(queries_per_article):
            query = topic["queries"][int(order[k % len(order)])]
            lead_in = lead_ins[(k // len(order)) % len(lead_ins)]
            rows.append((lead_in + query, kb_id, topic["label"]))
    rows += [(query, None, NO_ANSWER_SLICE) for query in NO_ANSWER_QUERIES]
    return pd.DataFrame(rows, columns=["query", "kb_id", "slice"])


def generate(params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tickets, KB articles and golden queries for the `data` params.

    Tickets and queries come from one generator seeded with `seed`; the
    generated KB articles from a second one (seeded with `[seed, 1]`), so the
    KB size changes neither the tickets nor the queries.
    """
    if not 0.0 <= float(params["label_noise"]) <= 1.0:
        raise ValueError(f"data.label_noise must be between 0 and 1, got {params['label_noise']}")
    seed = int(params["seed"])
    rng = np.random.default_rng(seed)
    kb = generate_kb(int(params["n_kb_articles"]), np.random.default_rng([seed, 1]))
    tickets = generate_tickets(
        int(params["n_tickets"]),
        float(params["label_noise"]),
        str(params["start_date"]),
        str(params["end_date"]),
        rng,
    )
    queries = generate_queries(kb, int(params["queries_per_article"]), rng)
    return tickets, kb, queries


def main() -> int:
    """Read `data` from params.yaml and write tickets, KB articles and queries to data/raw/."""
    tickets, kb, queries = generate(load_params()["data"])
    write_csv(tickets, RAW_DIR / "tickets.csv")
    write_csv(kb, RAW_DIR / "kb.csv")
    write_csv(queries, RAW_DIR / "queries.csv")
    print(f"sample_data: wrote {len(tickets)} tickets, {len(kb)} KB articles and {len(queries)} queries to {RAW_DIR}/")
    return 0


if __name__ == "__main__":
    run_stage(main)
