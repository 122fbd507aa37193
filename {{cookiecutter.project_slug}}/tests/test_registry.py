"""Reading GTO-format tags: which version holds a stage, after assignments, removals and rollbacks."""

import subprocess

import pytest

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
