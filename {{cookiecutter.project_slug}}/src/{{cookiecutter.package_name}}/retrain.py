"""Retraining on the incoming batch: append it to the training data, rerun, let the gates decide.

`python -m {{ cookiecutter.package_name }}.retrain append` (the first step of `make retrain`, which then
runs `dvc repro`) appends the labelled tickets of `data/incoming/tickets.csv`
to `data/raw/tickets.csv`. The existing rows keep their bytes; a batch whose
ids are already there is refused, so running it twice appends nothing twice.
When the raw tickets are tracked by DVC (`data/raw/tickets.csv.dvc`, after
`dvc add`), the new file is recorded with `dvc add` as a new data version;
when git tracks them, the commit is the new version.

`python -m {{ cookiecutter.package_name }}.retrain branch --branch NAME [--base REV]` (`make
retrain-branch`) is what the scheduled workflow runs when drift is detected:
on a new branch NAME it appends the batch, runs `dvc repro` (promote replaces
production only if the candidate meets every floor), runs the regression gate
against REV, writes the pull request's description to
`reports/retrain/pull_request.md` (the drift report, the promotion outcome and
the gate report) and commits. It never pushes: pushing and opening the pull
request are separate steps with their own credentials (`make retrain-push`).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

import yaml

from .encoders import folder_sha256
from .gate import default_base
from .io import read_csv, read_json, write_bytes, write_text
from .runner import StageError, run_stage
from .stages.drift import BATCH_FILE, REPORT_DIR, read_batch

RAW_TICKETS = Path("data/raw/tickets.csv")
PRODUCTION = Path("models/production")
PR_BODY = Path("reports/retrain/pull_request.md")
GATE_REPORT = Path("reports/gate.md")
PROMOTE_DECISION = Path("metrics/promote.json")  # promote's recorded decision, where it writes one
PROTECTED_BRANCHES = ("main", "master")


def stage_writing(path: Path, dvc_yaml: Path = Path("dvc.yaml")) -> str | None:
    """The name of the dvc.yaml stage that lists `path` among its outputs, if any."""
    stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages", {})
    for name, stage in stages.items():
        outs = [next(iter(out)) if isinstance(out, dict) else out for out in stage.get("outs", [])]
        if path.as_posix() in outs:
            return name
    return None


def append_batch(batch_path: Path = BATCH_FILE, raw_path: Path = RAW_TICKETS) -> int:
    """Append the labelled batch to the raw tickets; return the number of tickets appended."""
    owner = stage_writing(raw_path)
    if owner:
        raise StageError(
            f"{raw_path} is written by the stage {owner!r}, which would overwrite the appended tickets: "
            f"run `dvc remove {owner}` first (docs: bring your own data)"
        )
    batch = read_batch(batch_path)
    unlabelled = batch["label"].isna() if "label" in batch.columns else batch["id"].notna()
    if unlabelled.any():
        example = batch.loc[unlabelled, "id"].iloc[0]
        raise StageError(f"{batch_path}: {int(unlabelled.sum())} ticket(s) without a label (e.g. id {example})")
    if not raw_path.is_file():
        raise StageError(f"{raw_path}: file not found; retraining appends the batch to the training tickets")
    columns = read_csv(raw_path, nrows=0).columns.tolist()
    known = set(read_csv(raw_path, usecols=["id"])["id"])
    repeated = batch.loc[batch["id"].isin(known), "id"]
    if len(repeated):
        raise StageError(
            f"{batch_path}: {len(repeated)} ticket id(s) already in {raw_path} (e.g. {repeated.iloc[0]}): "
            "this batch was appended before"
        )
    raw = raw_path.read_bytes()
    rows = batch.reindex(columns=columns).to_csv(header=False, index=False, lineterminator="\n").encode("utf-8")
    write_bytes(raw + (b"" if raw.endswith(b"\n") else b"\n") + rows, raw_path)
    if raw_path.with_name(raw_path.name + ".dvc").is_file():
        subprocess.run(["dvc", "add", "-q", str(raw_path)], check=True)
    return len(batch)


def production_digest() -> str:
    """One hash of every production model file: did promotion replace them?"""
    digest = hashlib.sha256()
    for path in sorted(PRODUCTION.glob("*")):
        digest.update(path.name.encode("utf-8"))
        digest.update(
            (folder_sha256(path) if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()).encode()
        )
    return digest.hexdigest()


def promotion_outcome(before: str, repro_code: int) -> str:
    """ "promoted" when the production models changed, "not promoted" when promote refused (or the
    pipeline stopped), "unchanged" when the retrained models are the production ones."""
    if production_digest() != before:
        return "promoted"
    # no decision file (promote never ran) is not a refusal: only a written 0 is
    refused = PROMOTE_DECISION.is_file() and read_json(PROMOTE_DECISION).get("promotion", {}).get("promoted", 1) == 0
    return "not promoted" if repro_code or refused else "unchanged"


def pull_request_body(drift_summary: str, outcome: str, gate_report: str) -> str:
    """The pull request's description: why (drift), what happened (promotion), and the regression gate."""
    outcome = {
        "promoted": "✅ The retrained models met every floor of `gate.thresholds`: **production models replaced**.",
        "not promoted": "❌ The retrained models were **not promoted**: production models unchanged (see `dvc repro`).",
        "unchanged": "➖ The retrained models are identical to production: nothing to promote.",
    }[outcome]
    return "\n".join(
        [
            "# Retraining on the incoming batch",
            "",
            f"`make retrain` appended `{BATCH_FILE}` to `{RAW_TICKETS}` and reran the pipeline.",
            "",
            "## Promotion",
            "",
            outcome,
            "",
            drift_summary.rstrip(),
            "",
            gate_report.rstrip(),
            "",
        ]
    )


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def retrain_branch(branch: str, base: str) -> int:
    """Retrain on a new branch `branch` and commit; the pull request text goes to `PR_BODY`. Returns 0."""
    base = base or default_base()
    if not branch.strip():
        raise StageError("no branch given: make retrain-branch BRANCH=<new branch>")
    if branch in PROTECTED_BRANCHES or branch == base.removeprefix("origin/"):
        raise StageError(f"refusing to retrain on {branch!r}: use a new branch, never the default branch")
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"]).returncode == 0:
        raise StageError(f"branch {branch!r} already exists")
    # The drift report of the batch against the current models, and those models' digest.
    if subprocess.run(["dvc", "repro", "drift"]).returncode != 0:
        raise StageError(f"`dvc repro drift` failed at {base}: the pipeline must run there before retraining")
    drift_summary = (REPORT_DIR / "summary.md").read_text(encoding="utf-8")
    before = production_digest()
    git("switch", "-q", "-c", branch)
    appended = append_batch()
    repro = subprocess.run(["dvc", "repro"])
    outcome = promotion_outcome(before, repro.returncode)
    gate = subprocess.run([sys.executable, "-m", __package__ + ".gate", "--base", base, "--report", str(GATE_REPORT)])
    gate_report = GATE_REPORT.read_text(encoding="utf-8") if GATE_REPORT.is_file() else "Regression gate: no report."
    write_text(pull_request_body(drift_summary, outcome, gate_report), PR_BODY)
    git("add", "-A")
    git("commit", "-q", "-m", f"Retrain on {appended} incoming tickets (models {outcome})")
    print(
        f"retrain: branch {branch}: {appended} tickets appended, dvc repro exit {repro.returncode}, "
        f"models {outcome}, gate exit {gate.returncode}. Pull request text: {PR_BODY}"
    )
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.retrain", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("append", help=f"append the labelled {BATCH_FILE} to {RAW_TICKETS}")
    branch = commands.add_parser("branch", help="retrain on a new branch and commit (never pushes)")
    branch.add_argument("--branch", required=True, help="the new branch")
    branch.add_argument("--base", default="", help="revision the regression gate compares with (default: the gate's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "append":
        print(f"retrain: appended {append_batch()} tickets from {BATCH_FILE} to {RAW_TICKETS}")
        return 0
    return retrain_branch(args.branch, args.base)


if __name__ == "__main__":
    run_stage(main)
