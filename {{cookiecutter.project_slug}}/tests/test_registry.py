"""Reading GTO-format tags: which version holds a stage, after assignments, removals and rollbacks."""

import json
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import registry as reg
from {{ cookiecutter.package_name }}.modelset import file_hashes, install
from {{ cookiecutter.package_name }}.registry import (
    ARTIFACT,
    RegistryError,
    Tag,
    build,
    bump,
    parse_tag,
    read_tags,
    registered_manifest,
    registration_message,
    semver_key,
)

MANIFEST = {"version": "0123456789ab", "files": {"classifier.skops": "a" * 64, "encoder/model.npy": "b" * 64}}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model-set@v1.2.0", ("register", "v1.2.0", None, None)),
        ("model-set@v1.2.0#3", ("register", "v1.2.0", None, 3)),
        ("model-set@v1.2.0!#4", ("deregister", "v1.2.0", None, 4)),
        ("model-set@v2.0.0-rc.1", ("register", "v2.0.0-rc.1", None, None)),
        ("model-set#prod#7", ("assign", None, "prod", 7)),
        ("model-set#staging!#12", ("unassign", None, "staging", 12)),
        ("model-set#prod", ("assign", None, "prod", None)),
        ("model-set@deprecated#5", ("deprecate", None, None, 5)),
        ("model-set@created", ("create", None, None, None)),
    ],
)
def test_parse_tag_reads_every_gto_action(name, expected):
    parsed = parse_tag(name)
    assert (parsed["action"], parsed["version"], parsed["stage"], parsed["counter"]) == expected


@pytest.mark.parametrize(
    "name",
    ["other@v1.0.0", "model-set@1.0.0", "model-set@v1.0", "model-set@v01.0.0", "model-set#prod#x", "model-set"],
)
def test_parse_tag_ignores_other_tags(name):
    assert parse_tag(name) is None


def test_semver_key_orders_numbers_and_prereleases():
    versions = ["v1.10.0", "v1.2.0", "v2.0.0-rc.1", "v2.0.0", "v1.2.1", "v0.9.9"]
    assert sorted(versions, key=semver_key) == ["v0.9.9", "v1.2.0", "v1.2.1", "v1.10.0", "v2.0.0-rc.1", "v2.0.0"]
    with pytest.raises(RegistryError, match="is not a version like v1.2.0"):
        semver_key("1.2.0")


@pytest.mark.parametrize(
    ("latest", "part", "expected"),
    [
        (None, "minor", "v1.0.0"),
        (None, "major", "v1.0.0"),
        ("v1.2.3", "major", "v2.0.0"),
        ("v1.2.3", "minor", "v1.3.0"),
        ("v1.2.3", "patch", "v1.2.4"),
    ],
)
def test_bump(latest, part, expected):
    assert bump(latest, part) == expected


def test_registration_message_carries_the_manifest():
    message = registration_message("v1.0.0", MANIFEST)
    assert message.splitlines()[0] == f"Register {ARTIFACT} v1.0.0: model set 0123456789ab"
    assert registered_manifest(message) == MANIFEST
    assert registered_manifest("Registering artifact model-set version v1.0.0") is None
    assert registered_manifest("text\n{not json") is None
    assert registered_manifest('text\n{"version": "x"}') is None


class History:
    """Tags as the registry commands write them, one second apart, on made-up commits."""

    def __init__(self):
        self.tags, self.time, self.counter = [], 1_700_000_000, 0

    def add(self, name: str, commit: str, message: str = "") -> "History":
        self.time += 1
        self.tags.append(Tag(name, commit, self.time, message))
        return self

    def register(self, version: str, commit: str) -> "History":
        return self.add(f"{ARTIFACT}@{version}", commit, registration_message(version, MANIFEST))

    def stage(self, stage: str, commit: str, remove: bool = False) -> "History":
        self.counter += 1
        return self.add(f"{ARTIFACT}#{stage}{'!' if remove else ''}#{self.counter}", commit)


def three_in_prod() -> History:
    history = History()
    for version, commit in (("v1.0.0", "c1"), ("v1.1.0", "c2"), ("v1.2.0", "c3")):
        history.register(version, commit).stage("staging", commit).stage("prod", commit)
    return history


def test_the_newest_live_assignment_holds_the_stage():
    registry = build(three_in_prod().tags)
    assert registry.holder("prod").name == "v1.2.0"
    assert registry.holder("staging").name == "v1.2.0"
    assert registry.previous("prod").name == "v1.1.0"
    assert registry.latest() == "v1.2.0"
    assert registry.next_counter() == 7


def test_a_removal_tag_is_not_the_stage_holder_gto_reading():
    # dvc artifacts get --stage prod would take the newest tag of prod: this removal
    registry = build(three_in_prod().stage("prod", "c3", remove=True).tags)
    assert registry.holder("prod").name == "v1.1.0"
    assert registry.previous("prod").name == "v1.0.0"
    assert registry.holder("staging").name == "v1.2.0"


def test_a_rolled_back_version_is_never_rolled_back_to():
    history = three_in_prod().stage("prod", "c3", remove=True).stage("prod", "c2")  # rollback to v1.1.0
    registry = build(history.tags)
    assert registry.holder("prod").name == "v1.1.0"
    assert registry.previous("prod").name == "v1.0.0"


def test_reassigning_an_older_version_makes_it_the_holder():
    registry = build(three_in_prod().stage("prod", "c1").tags)
    assert registry.holder("prod").name == "v1.0.0"
    assert registry.previous("prod").name == "v1.2.0"


def test_a_deregistered_version_leaves_every_stage():
    registry = build(three_in_prod().add(f"{ARTIFACT}@v1.2.0!#99", "c3").tags)
    assert registry.holder("prod").name == "v1.1.0"
    assert registry.holder("staging").name == "v1.1.0"
    assert registry.registered_names() == ["v1.0.0", "v1.1.0"]
    assert registry.next_counter() == 100


def test_stage_tags_belong_to_the_version_registered_at_their_commit():
    registry = build(History().register("v1.0.0", "c1").stage("staging", "c1").tags)
    version = registry.version("v1.0.0")
    assert version.was_in("staging") and not version.was_in("prod")
    assert version.manifest == MANIFEST
    with pytest.raises(RegistryError, match=r"has no version v9.0.0 \(registered: v1.0.0\)"):
        registry.version("v9.0.0")
    with pytest.raises(RegistryError, match="no version of model-set is in prod"):
        registry.resolve("prod")
    assert registry.resolve("staging") is version


def test_ties_within_a_second_follow_the_counter():
    tags = [Tag(f"{ARTIFACT}@v1.0.0", "c1", 5), Tag(f"{ARTIFACT}@v1.1.0", "c2", 5)]
    tags += [Tag(f"{ARTIFACT}#prod#2", "c1", 9), Tag(f"{ARTIFACT}#prod#1", "c2", 9)]
    assert build(tags).holder("prod").name == "v1.0.0"
    assert build(tags[:2] + [Tag(f"{ARTIFACT}#prod#3", "c2", 9), tags[2]]).holder("prod").name == "v1.1.0"


def test_other_artifacts_tags_are_ignored():
    registry = build(three_in_prod().add("other#prod#50", "c1").add("release-1", "c1").tags)
    assert registry.holder("prod").name == "v1.2.0" and registry.next_counter() == 7


def test_read_tags_skips_lightweight_tags_and_keeps_messages(tmp_path, monkeypatch):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first")
    git("-c", "user.name=T", "-c", "user.email=t@example.com", "tag", "-a", "-m", "one\n\ntwo", f"{ARTIFACT}@v1.0.0")
    git("tag", f"{ARTIFACT}#prod#1")  # lightweight: GTO ignores it
    monkeypatch.chdir(tmp_path)
    (tag,) = read_tags()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert (tag.name, tag.commit, tag.message) == (f"{ARTIFACT}@v1.0.0", head, "one\n\ntwo\n")
    assert tag.time > 1_600_000_000


# ----------------------------------------------------------------------------- the commands, on a real repository


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with three commits; v1.0.0 registered at the first, v1.1.0 at the second."""
    for variable in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{variable}_NAME", "T")
        monkeypatch.setenv(f"{variable}_EMAIL", "t@example.com")
    monkeypatch.delenv("PIPELINE_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    commits = []
    subprocess.run(["git", "init", "-q", "-b", "main"], check=True)
    for n in range(3):
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", f"c{n}"], check=True)
        commits.append(reg.commit_of("HEAD"))
    reg.create_tag(f"{ARTIFACT}@v1.0.0", commits[0], registration_message("v1.0.0", MANIFEST), push=False)
    other = {**MANIFEST, "version": "ba9876543210"}
    reg.create_tag(f"{ARTIFACT}@v1.1.0", commits[1], registration_message("v1.1.0", other), push=False)
    return commits


def run(capsys, *argv):
    code = reg.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_assign_show_rollback_and_deprecate_through_the_command_line(repo, capsys):
    c1, c2, _ = repo
    capsys.readouterr()
    assert run(capsys, "assign", "v1.0.0", "prod") == (
        1,
        "",
        "registry: model-set v1.0.0 was never in staging: assign it to staging and judge it there first\n",
    )
    assert run(capsys, "assign", "v1.0.0", "staging") == (0, f"created tag model-set#staging#1 -> {c1[:12]}\n", "")
    assert run(capsys, "assign", "v1.0.0", "staging") == (0, "model-set v1.0.0 is already in staging\n", "")
    assert run(capsys, "assign", "v1.0.0", "prod")[1] == f"created tag model-set#prod#2 -> {c1[:12]}\n"
    assert run(capsys, "which", "prod") == (0, "v1.0.0\n", "")
    assert run(capsys, "which", "prod", "--commit") == (0, f"{c1}\n", "")
    run(capsys, "assign", "v1.1.0", "staging")
    assert run(capsys, "assign", "v1.1.0", "prod")[1] == f"created tag model-set#prod#4 -> {c2[:12]}\n"
    assert run(capsys, "show") == (
        0,
        "model-set  (staging: v1.1.0, prod: v1.1.0)\n"
        f"  v1.1.0     {c2[:12]}  model set ba9876543210  staging, prod\n"
        f"  v1.0.0     {c1[:12]}  model set 0123456789ab  -\n",
        "",
    )
    state = json.loads(run(capsys, "show", "--json")[1])
    assert state["stages"] == {"staging": "v1.1.0", "prod": "v1.1.0"}
    assert [(row["version"], row["commit"], row["model_set"], row["stages"]) for row in state["versions"]] == [
        ("v1.1.0", c2, "ba9876543210", ["staging", "prod"]),
        ("v1.0.0", c1, "0123456789ab", []),
    ]
    assert state["versions"][0]["registered_at"].endswith("+00:00")
    assert run(capsys, "rollback") == (
        0,
        f"created tag model-set#prod!#5 -> {c2[:12]}\n"
        f"created tag model-set#prod#6 -> {c1[:12]}\n"
        "prod is model-set v1.0.0 again: deploy it (docs: Rollout)\n",
        "",
    )
    assert run(capsys, "which", "prod")[1] == "v1.0.0\n"
    assert run(capsys, "rollback", "prod")[2] == (
        "registry: model-set v1.0.0 is the only version left in prod: nothing to roll back to\n"
    )
    assert run(capsys, "deprecate", "v1.1.0", "prod")[2] == "registry: model-set v1.1.0 is not assigned to prod\n"
    assert run(capsys, "deprecate", "v1.1.0", "staging")[1] == f"created tag model-set#staging!#7 -> {c2[:12]}\n"
    assert run(capsys, "which", "staging")[1] == "v1.0.0\n"  # its assignment was never removed
    assert run(capsys, "deprecate", "v1.0.0", "staging")[1] == f"created tag model-set#staging!#8 -> {c1[:12]}\n"
    assert run(capsys, "which", "staging") == (1, "", "registry: no version of model-set is in staging\n")
    assert run(capsys, "rollback", "staging")[2] == (
        "registry: no version of model-set is in staging: nothing to roll back\n"
    )
    assert run(capsys, "deprecate", "v1.1.0")[1] == f"created tag model-set@v1.1.0!#9 -> {c2[:12]}\n"
    assert run(capsys, "deprecate", "v1.1.0")[2] == "registry: model-set v1.1.0 is already deregistered\n"
    assert run(capsys, "assign", "v1.1.0", "staging")[2] == "registry: model-set v1.1.0 is deregistered\n"
    assert run(capsys, "assign", "v9.9.9", "staging")[2] == (
        "registry: model-set has no version v9.9.9 (registered: v1.0.0)\n"
    )
    assert run(capsys, "show")[1] == (
        f"model-set  (staging: -, prod: v1.0.0)\n  v1.0.0     {c1[:12]}  model set 0123456789ab  prod\n"
    )


def test_show_without_versions_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    assert run(capsys, "show") == (
        0,
        "model-set  (staging: -, prod: -)\n  no version registered yet: `make register` after a promotion\n",
        "",
    )


def test_errors_carry_a_debug_traceback_when_asked(repo, capsys, monkeypatch):
    monkeypatch.setenv("PIPELINE_DEBUG", "1")
    with pytest.raises(RegistryError, match="no version of model-set is in prod"):
        reg.main(["which", "prod"])


def test_git_failures_name_the_command_and_the_reason(repo):
    with pytest.raises(RegistryError, match=r"^'nope' is not a commit of this repository$"):
        reg.commit_of("nope")
    with pytest.raises(RegistryError, match=r"^git tag model-set@v1.0.0 failed: fatal: tag 'model-set@v1.0.0' alr"):
        reg.create_tag(f"{ARTIFACT}@v1.0.0", repo[2], "again\n", push=False)
    with pytest.raises(RegistryError, match=r"^git push failed: and the repository exists.$"):
        reg.create_tag(f"{ARTIFACT}@v2.0.0", repo[2], "pushed\n", push=True)
    assert reg.git("rev-parse", "--verify", "nope", check=False).returncode != 0
    with pytest.raises(RegistryError, match=r"^unknown stage 'dev': use staging or prod$"):
        reg.check_stage("dev")


def test_fetch_refuses_what_it_cannot_check(repo, tmp_path):
    registry = build(read_tags())
    registry.versions["v1.0.0"].registered = Tag(f"{ARTIFACT}@v1.0.0", repo[0], 1, "made by gto register\n")
    with pytest.raises(RegistryError, match=r"^model-set v1.0.0 was registered without its files' hashes"):
        reg.fetch(registry, "v1.0.0", tmp_path / "out", None)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(RegistryError, match=r"full is not empty: fetch into a new folder$"):
        reg.fetch(registry, "v1.1.0", tmp_path / "full", None)


def test_the_commands_options_and_their_defaults():
    args = reg.parse_args(["register"])
    assert (args.command, args.version, args.bump, args.message, args.push) == ("register", None, "minor", None, False)
    args = reg.parse_args(["register", "--version", "v2.0.0", "--bump", "major", "--message", "m", "--push"])
    assert (args.version, args.bump, args.message, args.push) == ("v2.0.0", "major", "m", True)
    assert vars(reg.parse_args(["rollback"])) == {"command": "rollback", "stage": "prod", "push": False}
    assert vars(reg.parse_args(["deprecate", "v1.0.0"])) == {
        "command": "deprecate",
        "version": "v1.0.0",
        "stage": None,
        "push": False,
    }
    assert vars(reg.parse_args(["which", "staging"])) == {"command": "which", "stage": "staging", "commit": False}
    assert vars(reg.parse_args(["show"])) == {"command": "show", "json": False}
    args = reg.parse_args(["fetch", "prod", "--out", "x"])
    assert (args.ref, args.out, args.remote) == ("prod", Path("x"), None)
    for bad in (["assign", "v1.0.0", "dev"], ["fetch", "prod"], ["register", "--bump", "huge"], []):
        with pytest.raises(SystemExit):
            reg.parse_args(bad)


def test_register_refuses_a_workspace_that_is_not_what_head_records(repo, capsys):
    assert run(capsys, "register")[2] == (
        "registry: models/production/manifest.json not found: models/production is not a promoted model set"
        " (run `dvc repro`)\n"
    )
    candidate = Path("models/candidate")
    (candidate / "encoder").mkdir(parents=True)
    (candidate / "classifier.skops").write_bytes(b"classifier")
    (candidate / "encoder" / "vectors.npy").write_bytes(b"encoder")
    install(candidate, reg.PRODUCTION, file_hashes(candidate))
    Path("params.yaml").write_text("index: {}\n")
    assert run(capsys, "register") == (
        1,
        "",
        "registry: dvc.lock, dvc.yaml or params.yaml has uncommitted changes: commit them first\n",
    )
    subprocess.run(["git", "add", "params.yaml"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", "params"], check=True)
    code, _, err = run(capsys, "register")  # the real `dvc status`, outside a DVC repository
    assert code == 1 and err.startswith("registry: dvc status failed: ") and err.count("\n") == 1
    assert [tag.name for tag in read_tags()] == [f"{ARTIFACT}@v1.0.0", f"{ARTIFACT}@v1.1.0"]  # nothing registered


HELP = {
    (): [
        "usage: python -m {{ cookiecutter.package_name }}.registry [-h] {register,assign,deprecate,rollback,show,which,fetch} ...",
        "Versions and stages of the model set (model-set) in GTO-format git tags.",
        "register register HEAD's production model set as a version",
        "assign assign a version to a stage (prod: after staging)",
        "deprecate remove a version from a stage, or deregister it",
        "rollback put a stage back on its previous version",
        "show versions and stages",
        "which print the version (or commit) in a stage",
        "fetch download a version's model set and index into a folder, checked",
    ],
    ("register",): [
        "usage: python -m {{ cookiecutter.package_name }}.registry register [-h] [--push] [--version VERSION] "
        "[--bump {major,minor,patch}] [--message MESSAGE]",
        "--push push the tags to origin",
        "--version VERSION e.g. v1.2.0; default: the latest version bumped by --bump",
        "--message MESSAGE a note added to the tag's message",
    ],
    ("assign",): ["usage: python -m {{ cookiecutter.package_name }}.registry assign [-h] [--push] version {staging,prod}"],
    ("deprecate",): ["usage: python -m {{ cookiecutter.package_name }}.registry deprecate [-h] [--push] version [{staging,prod}]"],
    ("rollback",): ["usage: python -m {{ cookiecutter.package_name }}.registry rollback [-h] [--push] [{staging,prod}]"],
    ("show",): ["usage: python -m {{ cookiecutter.package_name }}.registry show [-h] [--json]", "--json"],
    ("which",): [
        "usage: python -m {{ cookiecutter.package_name }}.registry which [-h] [--commit] {staging,prod}",
        "--commit print the version's commit instead",
    ],
    ("fetch",): [
        "usage: python -m {{ cookiecutter.package_name }}.registry fetch [-h] --out OUT [--remote REMOTE] ref",
        "ref a version (v1.2.0) or a stage (staging, prod)",
        "--remote REMOTE DVC remote name; default: the project's default remote",
    ],
}


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: c[0] if c else "registry")
def test_the_help_of_each_command_says_what_it_does(command, help_lines):
    shown = help_lines(reg.parse_args, command)
    assert [line for line in HELP[command] if line not in shown] == []
