"""Write a batch of incoming tickets to try the drift check: in distribution, or shifted.

`python -m {{ cookiecutter.package_name }}.stages.sample_incoming [--shift KIND] [--seed N] [--n-tickets N]`
writes `data/incoming/tickets.csv` from `data.incoming` in params.yaml (the
options override it). It is a command, not a pipeline stage: the incoming batch
is data that arrives from outside (an export, a user), so DVC must never
restore an older copy of it.

A batch is drawn like the training tickets (`sample_data.generate_tickets`,
same label noise) with its own seed and dates, then a `share` of its tickets is
changed by the shift `kind`:

- ``none``: nothing changes (a fresh batch from the training distribution);
- ``new_topic``: tickets about products the training data never mentions;
- ``label_mix``: tickets replaced by tickets of one label (an outage: a surge
  of technical issues);
- ``longer_texts``: two more paragraphs of the same label appended;
- ``new_channel``: a channel the training data never had;
- ``foreign_text``: tickets written in Spanish or German (`language` says so).

The vocabulary of the shifts is in `shifts.json` next to this module. Ids are
``B<seed>-000001``, ... so that a batch never collides with the training
tickets (``T000001``, ...) when it is appended to them (`make retrain`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_csv
from ..params import load_params
from ..runner import run_stage
from .sample_data import LABELS, TOPICS, fill, generate_tickets, pick, ticket_text

SHIFTS = ("none", "new_topic", "label_mix", "longer_texts", "new_channel", "foreign_text")
VOCABULARY = json.loads((Path(__file__).parent / "shifts.json").read_text(encoding="utf-8"))
OUT_FILE = Path("data/incoming/tickets.csv")
# Paragraphs appended to each ticket by `longer_texts`.
EXTRA_PARAGRAPHS = 2


def shift_tickets(tickets: pd.DataFrame, kind: str, share: float, rng: np.random.Generator) -> pd.DataFrame:
    """A copy of `tickets` with a `share` of its rows (drawn with `rng`) changed by the shift `kind`."""
    if kind not in SHIFTS:
        raise ValueError(f"data.incoming.shift must be one of {', '.join(SHIFTS)}, not {kind!r}")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"data.incoming.share must be between 0 and 1, got {share}")
    shifted = tickets.copy()
    if kind == "none":
        return shifted
    rows = np.sort(rng.choice(len(tickets), size=round(share * len(tickets)), replace=False)).tolist()
    by_label = {label: [t for t in TOPICS if t["label"] == label] for label in LABELS}
    texts, labels = shifted["text"].tolist(), shifted["label"].tolist()
    channels, languages = shifted["channel"].tolist(), shifted["language"].tolist()
    for i in rows:
        if kind == "new_topic":
            topic = pick(rng, VOCABULARY["new_topic"])
            texts[i], labels[i] = ticket_text(topic, rng), topic["label"]
        elif kind == "label_mix":
            label = VOCABULARY["label_mix"]["label"]
            texts[i], labels[i] = ticket_text(pick(rng, by_label[label]), rng), label
        elif kind == "longer_texts":
            extra = [ticket_text(pick(rng, by_label[labels[i]]), rng) for _ in range(EXTRA_PARAGRAPHS)]
            texts[i] = "\n\n".join([texts[i], *extra])
        elif kind == "new_channel":
            channels[i] = pick(rng, VOCABULARY["new_channel"])
        else:  # foreign_text
            language = pick(rng, sorted(VOCABULARY["foreign_text"]))
            phrasings = VOCABULARY["foreign_text"][language][labels[i]]
            two = rng.permutation(len(phrasings))[:2].tolist()
            texts[i], languages[i] = " ".join(fill(phrasings[k], rng) for k in two), language
    shifted["text"], shifted["label"], shifted["channel"], shifted["language"] = texts, labels, channels, languages
    return shifted


def generate_incoming(settings: dict[str, Any], label_noise: float) -> pd.DataFrame:
    """The incoming batch that the `data.incoming` settings describe (same settings, same bytes).

    The base tickets come from `default_rng(seed)`, the shift from
    `default_rng([seed, 2])`: every kind shifts the same base batch.
    """
    seed = int(settings["seed"])
    tickets = generate_tickets(
        int(settings["n_tickets"]),
        label_noise,
        str(settings["start_date"]),
        str(settings["end_date"]),
        np.random.default_rng(seed),
    )
    tickets["id"] = [f"B{seed}-{i + 1:06d}" for i in range(len(tickets))]
    return shift_tickets(tickets, str(settings["shift"]), float(settings["share"]), np.random.default_rng([seed, 2]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shift", choices=SHIFTS, help="shift kind (default: data.incoming.shift)")
    parser.add_argument("--share", type=float, help="share of tickets the shift changes (default: data.incoming.share)")
    parser.add_argument("--seed", type=int, help="seed of the batch (default: data.incoming.seed)")
    parser.add_argument("--n-tickets", type=int, help="number of tickets (default: data.incoming.n_tickets)")
    parser.add_argument("--out", type=Path, default=OUT_FILE, help=f"CSV to write (default: {OUT_FILE})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = load_params()["data"]
    given = {"shift": args.shift, "share": args.share, "seed": args.seed, "n_tickets": args.n_tickets}
    settings = {**data["incoming"], **{key: value for key, value in given.items() if value is not None}}
    tickets = generate_incoming(settings, float(data["label_noise"]))
    write_csv(tickets, args.out)
    print(f"sample_incoming: wrote {len(tickets)} tickets (shift: {settings['shift']}) to {args.out}")
    return 0


if __name__ == "__main__":
    run_stage(main)
