"""Versions and stages of the promoted model set, recorded as git tags in GTO's format.

The model set (``models/production``: classifier, encoder, manifest; with the
index that `index` built for its encoder) is the artifact ``model-set`` of the
``artifacts:`` section of dvc.yaml. Its history lives in annotated git tags, as
GTO (iterative/gto) writes them, so ``gto show`` and DVC Studio read them too:

- ``model-set@v1.2.0`` registers a version at a commit; the tag's message
  carries the model set's manifest (version id and SHA-256 of every file);
- ``model-set#staging#7`` / ``model-set#prod#8`` assign the version registered at
  the tagged commit to a stage (the counter orders the events);
- ``model-set#prod!#9`` removes a version from a stage ("deprecate" in GTO's
  words), ``model-set@v1.2.0!#10`` deregisters a version.

Which version holds a stage follows GTO's rules (``gto show``): of the versions
still registered, the one whose latest assignment to the stage is newest and was
not removed since. ``dvc artifacts get --stage`` instead takes the newest tag of
the stage, which is wrong after a removal; this module never relies on it.

Commands (``python -m {{ cookiecutter.package_name }}.registry ...``; ``make versions``,
``make register`` ...): ``register``, ``assign VERSION STAGE``, ``deprecate``,
``rollback``, ``show``, ``which STAGE``, ``fetch VERSION|STAGE --out DIR``.
Tags are created locally; ``--push`` pushes each to ``origin``. Revisions and
tag names reach git as argv items, after ``--end-of-options`` where git reads
options.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .runner import StageError

ARTIFACT = "model-set"  # the name in dvc.yaml's `artifacts:` section
STAGES = ("staging", "prod")
PRODUCTION = Path("models/production")
INDEX = Path("data/index")

# GTO's tag grammar (gto/constants.py), for one artifact name without a folder part.
_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_SEMVER = (
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
TAG_RE = re.compile(
    rf"^(?P<artifact>{_NAME})"
    rf"(((#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?))|@(?P<deprecated>deprecated|created))"
    r"(#(?P<counter>[0-9]+))?$"
)
VERSION_RE = re.compile(rf"^v{_SEMVER}$")


class RegistryError(StageError):
    """A registry command cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class Tag:
    """An annotated git tag: its name, the commit it points to, its tagger time and message."""

    name: str
    commit: str
    time: int
    message: str = ""


@dataclass(frozen=True)
class Event:
    action: str  # register | deregister | assign | unassign | deprecate | create
    version: str | None
    stage: str | None
    counter: int | None
    tag: Tag

    @property
    def order(self) -> tuple[int, int]:
        # GTO orders by tag time; the counter breaks ties within a second (registrations have none)
        return (self.tag.time, -1 if self.counter is None else self.counter)


def parse_tag(name: str, artifact: str = ARTIFACT) -> dict[str, Any] | None:
    """The action a tag name records for `artifact`, as GTO reads it; None for any other tag."""
    match = TAG_RE.match(name)
    if not match or match["artifact"] != artifact:
        return None
    cancel = match["cancel"] == "!"
    if match["version"]:
        action = "deregister" if cancel else "register"
    elif match["stage"]:
        action = "unassign" if cancel else "assign"
    else:
        action = "deprecate" if match["deprecated"] == "deprecated" else "create"
    counter = int(match["counter"]) if match["counter"] else None
    return {"action": action, "version": match["version"], "stage": match["stage"], "counter": counter}


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key of ``vX.Y.Z[-pre]``: a pre-release sorts before its release."""
    match = VERSION_RE.match(version)
    if not match:
        raise RegistryError(f"{version!r} is not a version like v1.2.0")
    major, minor, patch, pre = match.group(1), match.group(2), match.group(3), match.group(4)
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


@dataclass
class Version:
    name: str
    commit: str
    registered: Tag | None = None
    direct: list[Event] = field(default_factory=list)  # registrations and deregistrations
    stages: dict[str, list[Event]] = field(default_factory=dict)  # assignments and removals, by stage

    @property
    def active(self) -> bool:
        """GTO: registered and not deregistered since (or, never registered, assigned somewhere)."""
        if self.direct:
            return self.direct[-1].action == "register"
        return bool(self.stages)

    def in_stage(self, stage: str) -> Event | None:
        """The assignment that puts this version in `stage`, unless it was removed after it."""
        events = self.stages.get(stage, [])
        return events[-1] if events and events[-1].action == "assign" else None

    def was_in(self, stage: str) -> bool:
        return any(event.action == "assign" for event in self.stages.get(stage, []))

    @property
    def manifest(self) -> dict[str, Any] | None:
        return registered_manifest(self.registered.message) if self.registered else None


@dataclass
class Registry:
    versions: dict[str, Version]
    events: list[Event]

    def holder(self, stage: str) -> Version | None:
        """The version in `stage` by GTO's rule: newest live assignment among active versions."""
        live = [(v.in_stage(stage).order, v.name) for v in self.versions.values() if v.active and v.in_stage(stage)]
        return self.versions[max(live)[1]] if live else None

    def version(self, name: str) -> Version:
        if name not in self.versions or not self.versions[name].registered:
            known = ", ".join(sorted(self.registered_names(), key=semver_key)) or "none yet"
            raise RegistryError(f"{ARTIFACT} has no version {name} (registered: {known})")
        return self.versions[name]

    def registered_names(self) -> list[str]:
        return [name for name, v in self.versions.items() if v.registered and v.active]

    def resolve(self, ref: str) -> Version:
        """A version name, or a stage (its current version)."""
        if ref in STAGES:
            held = self.holder(ref)
            if held is None:
                raise RegistryError(f"no version of {ARTIFACT} is in {ref}")
            return held
        return self.version(ref)

    def previous(self, stage: str) -> Version | None:
        """The version to roll `stage` back to: the newest other active version still assigned to it."""
        current = self.holder(stage)
        live = [
            (v.in_stage(stage).order, v.name)
            for v in self.versions.values()
            if v.active and v.in_stage(stage) and v is not current
        ]
        return self.versions[max(live)[1]] if live else None

    def next_counter(self) -> int:
        return max((e.counter for e in self.events if e.counter is not None), default=0) + 1

    def latest(self) -> str | None:
        names = self.registered_names()
        return max(names, key=semver_key) if names else None


def build(tags: Iterable[Tag], artifact: str = ARTIFACT) -> Registry:
    """The registry state that the tags record (GTO's reading: events in time order)."""
    events = []
    for tag in tags:
        parsed = parse_tag(tag.name, artifact)
        if parsed:
            events.append(Event(tag=tag, **parsed))
    events.sort(key=lambda e: e.order)
    versions: dict[str, Version] = {}
    at_commit: dict[str, str] = {}
    for event in events:
        if event.action in ("register", "deregister"):
            version = versions.get(event.version) or Version(event.version, event.tag.commit)
            versions[event.version] = version
            at_commit.setdefault(event.tag.commit, event.version)
            if event.action == "register" and version.registered is None:
                version.registered = event.tag
            version.direct.append(event)
        elif event.action in ("assign", "unassign"):
            # a stage tag names no version: it is the version registered at the tagged commit, as in GTO
            name = at_commit.get(event.tag.commit, event.tag.commit)
            version = versions.setdefault(name, Version(name, event.tag.commit))
            version.stages.setdefault(event.stage, []).append(event)
    return Registry(versions, events)


def registration_message(version: str, manifest: dict[str, Any]) -> str:
    """A registration tag's message: one line for people, then the manifest that fetches are checked against."""
    summary = f"Register {ARTIFACT} {version}: model set {manifest['version']}"
    return f"{summary}\n\n{json.dumps(manifest, indent=2, sort_keys=True)}\n"


def registered_manifest(message: str) -> dict[str, Any] | None:
    """The manifest in a registration message, or None (e.g. a tag made by `gto register`)."""
    start = message.find("\n{")
    if start < 0:
        return None
    try:
        manifest = json.loads(message[start:])
    except json.JSONDecodeError:
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    return manifest


def bump(latest: str | None, part: str) -> str:
    """The next version after `latest` (v1.0.0 when there is none), bumping `part` (major, minor or patch)."""
    if latest is None:
        return "v1.0.0"
    major, minor, patch = semver_key(latest)[:3]
    if part == "major":
        return f"v{major + 1}.0.0"
    if part == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"


# --- git --------------------------------------------------------------------------------------------


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except OSError as err:
        raise RegistryError(f"cannot run git: {err}") from None
    if check and done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RegistryError(f"git {args[0]} failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done


def read_tags(artifact: str = ARTIFACT) -> list[Tag]:
    """The annotated tags of `artifact` (lightweight tags are ignored, as GTO does)."""
    fields = "%(refname:strip=2)%00%(objecttype)%00%(*objectname)%00%(taggerdate:unix)%00%(contents)%00%00"
    out = git("for-each-ref", f"--format={fields}", f"refs/tags/{artifact}*").stdout
    tags = []
    for record in out.split("\0\0\n"):
        parts = record.split("\0")
        if len(parts) != 5 or parts[1] != "tag":
            continue
        name, _, commit, time, message = parts
        tags.append(Tag(name, commit, int(time or 0), message))
    return tags


def commit_of(rev: str) -> str:
    done = git("rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}", check=False)
    if done.returncode != 0:
        raise RegistryError(f"{rev!r} is not a commit of this repository")
    return done.stdout.strip()


def create_tag(name: str, commit: str, message: str, push: bool) -> None:
    # `name` is built here from the artifact's name (never an option); `commit` is a full commit id
    done = subprocess.run(
        ["git", "tag", "--annotate", "--file", "-", name, commit], input=message, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RegistryError(f"git tag {name} failed: {done.stderr.strip()}")
    print(f"created tag {name} -> {commit[:12]}")
    if push:
        git("push", "origin", f"refs/tags/{name}")
        print(f"pushed {name} to origin")


# --- commands ---------------------------------------------------------------------------------------


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise RegistryError(f"unknown stage {stage!r}: use {' or '.join(STAGES)}")
    return stage


def workspace_manifest() -> dict[str, Any]:
    """The manifest of models/production after checking that it, the index and dvc.lock are what HEAD records."""
    from .modelset import verify

    manifest = verify(PRODUCTION)
    if git("status", "--porcelain", "--", "dvc.lock", "dvc.yaml", "params.yaml").stdout.strip():
        raise RegistryError("dvc.lock, dvc.yaml or params.yaml has uncommitted changes: commit them first")
    status = subprocess.run(
        ["dvc", "status", "--json", "promote", "embed", "index"], capture_output=True, text=True, check=False
    )
    if status.returncode != 0:
        lines = status.stderr.strip().splitlines()
        raise RegistryError(f"dvc status failed: {lines[-1] if lines else f'exit {status.returncode}'}")
    changed = json.loads(status.stdout or "{}")
    if changed:
        stages = ", ".join(sorted(changed))
        raise RegistryError(f"the workspace differs from dvc.lock ({stages}): run `dvc repro`, commit, then register")
    return manifest


def register(registry: Registry, version: str | None, part: str, message: str | None, push: bool) -> str:
    manifest = workspace_manifest()
    head = commit_of("HEAD")
    name = version or bump(registry.latest(), part)
    semver_key(name)
    if name in registry.versions and registry.versions[name].registered:
        raise RegistryError(f"{ARTIFACT} {name} is already registered")
    for other in registry.versions.values():
        if other.registered and other.active and other.commit == head:
            raise RegistryError(f"commit {head[:12]} is already {ARTIFACT} {other.name}")
        if other.active and other.manifest and other.manifest.get("version") == manifest["version"]:
            raise RegistryError(f"model set {manifest['version']} is already registered as {other.name}")
    text = registration_message(name, manifest)
    if message:
        text = f"{text}\n{message}\n"
    create_tag(f"{ARTIFACT}@{name}", head, text, push)
    return name


def assign(registry: Registry, name: str, stage: str, push: bool) -> str:
    version = registry.version(name)
    check_stage(stage)
    if not version.active:
        raise RegistryError(f"{ARTIFACT} {name} is deregistered")
    if stage == "prod" and not version.was_in("staging"):
        raise RegistryError(f"{ARTIFACT} {name} was never in staging: assign it to staging and judge it there first")
    if registry.holder(stage) is version:
        print(f"{ARTIFACT} {name} is already in {stage}")
        return ""
    tag = f"{ARTIFACT}#{stage}#{registry.next_counter()}"
    create_tag(tag, version.commit, f"Assign {ARTIFACT} {name} to {stage}\n", push)
    return tag


def deprecate(registry: Registry, name: str, stage: str | None, push: bool) -> str:
    """Remove `name` from `stage`, or, without a stage, deregister it (it leaves every stage)."""
    version = registry.version(name)
    if stage is None:
        if not version.active:
            raise RegistryError(f"{ARTIFACT} {name} is already deregistered")
        tag = f"{ARTIFACT}@{name}!#{registry.next_counter()}"
        create_tag(tag, version.commit, f"Deregister {ARTIFACT} {name}\n", push)
        return tag
    check_stage(stage)
    if not version.in_stage(stage):
        raise RegistryError(f"{ARTIFACT} {name} is not assigned to {stage}")
    tag = f"{ARTIFACT}#{stage}!#{registry.next_counter()}"
    create_tag(tag, version.commit, f"Remove {ARTIFACT} {name} from {stage}\n", push)
    return tag


def rollback(registry: Registry, stage: str, push: bool) -> str:
    """Put `stage` back on the version that held it before: remove the current one, assign the previous again.

    Both tags are written so that every reader agrees: GTO's rule finds the
    previous version, and so does the newest-tag rule of ``dvc artifacts get``.
    """
    check_stage(stage)
    current = registry.holder(stage)
    if current is None:
        raise RegistryError(f"no version of {ARTIFACT} is in {stage}: nothing to roll back")
    target = registry.previous(stage)
    if target is None:
        raise RegistryError(f"{ARTIFACT} {current.name} is the only version left in {stage}: nothing to roll back to")
    counter = registry.next_counter()
    create_tag(
        f"{ARTIFACT}#{stage}!#{counter}", current.commit, f"Roll back {stage}: remove {ARTIFACT} {current.name}\n", push
    )
    create_tag(
        f"{ARTIFACT}#{stage}#{counter + 1}", target.commit, f"Roll back {stage}: {ARTIFACT} {target.name} again\n", push
    )
    return target.name


def show(registry: Registry) -> dict[str, Any]:
    """Versions (newest first) with their commit, model set and stages; and which version holds each stage."""
    holders = {stage: registry.holder(stage) for stage in STAGES}
    rows = []
    for name in sorted(registry.registered_names(), key=semver_key, reverse=True):
        version = registry.versions[name]
        rows.append(
            {
                "version": name,
                "commit": version.commit,
                "model_set": (version.manifest or {}).get("version"),
                "registered_at": datetime.fromtimestamp(version.registered.time, UTC).isoformat(),
                "stages": [stage for stage in STAGES if holders[stage] is version],
            }
        )
    return {"artifact": ARTIFACT, "stages": {s: v.name if v else None for s, v in holders.items()}, "versions": rows}


def print_show(state: dict[str, Any]) -> None:
    stages = ", ".join(f"{stage}: {name or '-'}" for stage, name in state["stages"].items())
    print(f"{state['artifact']}  ({stages})")
    if not state["versions"]:
        print("  no version registered yet: `make register` after a promotion")
    for row in state["versions"]:
        where = ", ".join(row["stages"]) or "-"
        print(f"  {row['version']:<10} {row['commit'][:12]}  model set {row['model_set'] or '?':<12}  {where}")


def fetch(registry: Registry, ref: str, out: Path, remote: str | None) -> dict[str, Any]:
    """Download a version's model set and index (git + the DVC remote) into `out` and `out/index`, checked.

    The files must be the ones the registration recorded (SHA-256 of each), and
    the index must belong to the set's encoder: what runs is what was registered.
    """
    from .io import read_json
    from .modelset import part_version, verify
    from .stages.index import SOURCE_FILE

    version = registry.resolve(ref)
    expected = version.manifest
    if expected is None:
        raise RegistryError(f"{ARTIFACT} {version.name} was registered without its files' hashes: cannot check them")
    if out.exists() and any(out.iterdir()):
        raise RegistryError(f"{out} is not empty: fetch into a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = ["--remote", remote] if remote else []
    for source, target in ((PRODUCTION, out), (INDEX, out / "index")):
        # the revision is a full commit id; the path and folder are argv items
        command = ["dvc", "get", ".", source.as_posix(), "--rev", version.commit, "--out", str(target), *extra]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR")]
            reason = errors[0] if errors else "dvc get failed"
            raise RegistryError(
                f"cannot fetch {source} of {version.name} ({reason}): was it pushed (`dvc push` at its commit)?"
            )
    manifest = verify(out)
    if manifest != expected:
        raise RegistryError(f"{out} is not the model set registered as {version.name}: its files' hashes differ")
    if read_json(out / "index" / SOURCE_FILE).get("encoder") != part_version(manifest["files"], "encoder"):
        raise RegistryError(f"{out / 'index'} was not built with {version.name}'s encoder")
    print(f"fetched {ARTIFACT} {version.name} (model set {manifest['version']}) into {out}")
    return manifest


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.registry",
        description=f"Versions and stages of the model set ({ARTIFACT}) in GTO-format git tags.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    push = argparse.ArgumentParser(add_help=False)
    push.add_argument("--push", action="store_true", help="push the tags to origin")
    reg = commands.add_parser("register", parents=[push], help="register HEAD's production model set as a version")
    reg.add_argument("--version", help="e.g. v1.2.0; default: the latest version bumped by --bump")
    reg.add_argument("--bump", choices=("major", "minor", "patch"), default="minor")
    reg.add_argument("--message", help="a note added to the tag's message")
    assign_ = commands.add_parser("assign", parents=[push], help="assign a version to a stage (prod: after staging)")
    assign_.add_argument("version")
    assign_.add_argument("stage", choices=STAGES)
    dep = commands.add_parser("deprecate", parents=[push], help="remove a version from a stage, or deregister it")
    dep.add_argument("version")
    dep.add_argument("stage", nargs="?", choices=STAGES)
    back = commands.add_parser("rollback", parents=[push], help="put a stage back on its previous version")
    back.add_argument("stage", nargs="?", default="prod", choices=STAGES)
    show_ = commands.add_parser("show", help="versions and stages")
    show_.add_argument("--json", action="store_true")
    which = commands.add_parser("which", help="print the version (or commit) in a stage")
    which.add_argument("stage", choices=STAGES)
    which.add_argument("--commit", action="store_true", help="print the version's commit instead")
    get = commands.add_parser("fetch", help="download a version's model set and index into a folder, checked")
    get.add_argument("ref", help="a version (v1.2.0) or a stage (staging, prod)")
    get.add_argument("--out", required=True, type=Path)
    get.add_argument("--remote", help="DVC remote name; default: the project's default remote")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        registry = build(read_tags())
        if args.command == "register":
            register(registry, args.version, args.bump, args.message, args.push)
        elif args.command == "assign":
            assign(registry, args.version, args.stage, args.push)
        elif args.command == "deprecate":
            deprecate(registry, args.version, args.stage, args.push)
        elif args.command == "rollback":
            name = rollback(registry, args.stage, args.push)
            print(f"{args.stage} is {ARTIFACT} {name} again: deploy it (docs: Rollout)")
        elif args.command == "show":
            state = show(registry)
            print(json.dumps(state, indent=2)) if args.json else print_show(state)
        elif args.command == "which":
            held = registry.resolve(args.stage)
            print(held.commit if args.commit else held.name)
        elif args.command == "fetch":
            fetch(registry, args.ref, args.out, args.remote)
    except StageError as err:
        if os.environ.get("PIPELINE_DEBUG"):
            raise
        print(f"registry: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
