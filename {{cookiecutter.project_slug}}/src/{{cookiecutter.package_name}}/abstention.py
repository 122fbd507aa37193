"""`make tune-abstention`: set `index.abstain_below` in params.yaml from the golden queries.

Retrieval answers "no answer" when a query's best score is below
`index.abstain_below` (the index stage, the service and `evaluate` apply the
same rule). This command reads the best score of every golden query from the
last `evaluate` run (`metrics/evaluate/cases/queries.csv`), picks the threshold
with the best F1 of abstaining (`retrieval.tune_abstention`: queries without a
`kb_id` should get no answer, the others should get one) and writes it into
params.yaml, on its own line, comments kept. It is the only command that edits
params.yaml, and only when run; `dvc repro` then measures the new threshold.

The threshold is tuned on the same queries that measure it: add no-answer
queries from production to the golden set rather than trusting a perfect score
on a few (docs: designing the evaluation set).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .io import read_csv
from .params import PARAMS_FILE, load_params
from .retrieval import abstention_metrics, answered, tune_abstention
from .runner import StageError

CASES = Path("metrics/evaluate/cases/queries.csv")
# The one line this command rewrites: `abstain_below:` in the `index` section, its comment kept.
LINE = re.compile(r"^(  abstain_below:[ \t]*)([^#\n]*?)([ \t]*(#.*)?)$", re.MULTILINE)


def set_threshold(text: str, threshold: float) -> str:
    """params.yaml text with `index.abstain_below` set to `threshold`, everything else as it was."""
    index = re.search(r"^index:[ \t]*(#.*)?$", text, re.MULTILINE)
    if not index:
        raise StageError(f"{PARAMS_FILE} has no index section to hold abstain_below")
    section_end = re.search(r"^\S", text[index.end() :], re.MULTILINE)
    end = index.end() + section_end.start() if section_end else len(text)
    found = list(LINE.finditer(text, index.end(), end))
    if len(found) != 1:
        raise StageError(
            f"{PARAMS_FILE}: add one line `abstain_below: 0.0` to the index section, indented by two spaces"
        )
    match = found[0]
    value, comment = f"{threshold:.4f}", match.group(4)
    rest = ""
    if comment:  # the comment stays in its column where the value leaves room
        column = len(match.group(2)) + len(match.group(3)) - len(comment)
        rest = " " * max(1, column - len(value)) + comment
    return text[: match.start()] + match.group(1) + value + rest + text[match.end() :]


def tune() -> str:
    """Write the tuned threshold into params.yaml; return what was done, in one line."""
    load_params()  # a broken params.yaml is reported before anything is written
    if not CASES.exists():
        raise StageError(f"{CASES} not found: run `dvc repro` first, so evaluate scores the golden queries")
    cases = read_csv(CASES)
    if "score" not in cases.columns:
        raise StageError(f"{CASES} has no score column: run `dvc repro` to evaluate with this version")
    answerable = cases["expected"].notna().to_numpy()
    if answerable.all():
        raise StageError(
            "no golden query is without an answer: add questions the KB cannot answer to queries.csv, "
            "with an empty kb_id, then run `dvc repro` and this again"
        )
    threshold = tune_abstention(cases["score"].to_numpy(), answerable)
    measured = abstention_metrics(answered(cases["score"].to_numpy(), threshold), answerable)
    path = Path(PARAMS_FILE)
    path.write_text(set_threshold(path.read_text(encoding="utf-8"), threshold), encoding="utf-8")
    return (
        f"index.abstain_below = {threshold:.4f} in {PARAMS_FILE} "
        f"(on {len(cases)} golden queries, {int((~answerable).sum())} without an answer: "
        f"abstention precision {measured['precision']:.3f}, recall {measured['recall']:.3f}). "
        "Run `dvc repro` to measure it."
    )


def main() -> int:
    try:
        print(f"tune-abstention: {tune()}")
    except StageError as err:
        print(f"tune-abstention: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
