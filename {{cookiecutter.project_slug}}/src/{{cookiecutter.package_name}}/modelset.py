"""Model sets: the models that are measured, promoted and served together, switched as one unit.

A model-set folder holds the classifier and the encoder (``MODEL_FILES``) and a
``manifest.json`` that lists the SHA-256 of every file and a version derived from
them. ``models/candidate`` is where training writes a set; ``models/production``
is the promoted one; any other folder laid out the same way (a fetched version, a
canary candidate) works with the same functions.

`install` makes a complete set the content of a folder in one atomic step: the
new set is written next to the target, then the two folders are exchanged by a
single system call (``renameat2(RENAME_EXCHANGE)`` on Linux, ``renamex_np`` with
``RENAME_SWAP`` on macOS). Whenever the process is stopped, the target holds
either the old set or the new one, never a mix. Elsewhere the exchange falls back
to two renames, and `recover` finishes a switch stopped between them. Leftovers of
an interrupted switch are removed by `recover`, which `install` calls first.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .io import read_json, write_json
from .runner import StageError

MODEL_FILES = ("classifier.skops", "encoder")
MANIFEST = "manifest.json"
VERSION_LENGTH = 12  # hex digits of the version id: 48 bits, enough to tell sets apart
NEXT, PREVIOUS = ".next", ".previous"  # suffixes of the folders a switch uses next to the target


class ModelSetError(StageError):
    """A model set is incomplete, or its files are not the ones its manifest names."""


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(folder: str | os.PathLike, parts: tuple[str, ...] = MODEL_FILES) -> dict[str, str]:
    """SHA-256 of every file of the models `parts` (all by default) in `folder`, by relative path, sorted."""
    root = Path(folder)
    missing = [name for name in parts if not (root / name).exists()]
    if missing:
        raise ModelSetError(f"{root} is not a complete model set: {', '.join(missing)} missing")
    files = []
    for name in parts:
        path = root / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(files)}


def version_of(hashes: dict[str, str]) -> str:
    """A short id of a set of files: the same files (names and bytes) always give the same version."""
    listing = "".join(f"{path}\0{digest}\n" for path, digest in sorted(hashes.items()))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()[:VERSION_LENGTH]


def part_version(hashes: dict[str, str], part: str) -> str:
    """Version of one model of a set (e.g. ``encoder``), from the set's file hashes.

    An index records the version of the encoder it was built with, so a service
    can tell an index that does not belong to its encoder.
    """
    return version_of({path: digest for path, digest in hashes.items() if path.split("/")[0] == part})


def manifest_of(hashes: dict[str, str]) -> dict[str, Any]:
    return {"version": version_of(hashes), "files": dict(sorted(hashes.items()))}


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ModelSetError(f"{path} not found: {folder} is not a promoted model set (run `dvc repro`)")
    return read_json(path)


def verify(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of `folder` after checking that its files are exactly the ones it names.

    Raises ModelSetError naming the first file that is missing, extra or changed.
    """
    manifest = read_manifest(folder)
    actual = file_hashes(folder)
    expected = manifest.get("files") or {}
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            raise ModelSetError(f"{Path(folder) / path} is missing from the model set (its manifest names it)")
        if path not in expected:
            raise ModelSetError(f"{Path(folder) / path} is not in the model set's manifest")
        if actual[path] != expected[path]:
            raise ModelSetError(f"{Path(folder) / path} is not the file the manifest names (its content changed)")
    return manifest


def staging_paths(target: Path) -> tuple[Path, Path]:
    return target.with_name(target.name + NEXT), target.with_name(target.name + PREVIOUS)


def recover(target: str | os.PathLike) -> str | None:
    """Finish or undo a switch of `target` that was stopped; remove its leftovers. Says what it did, if anything.

    Only the two-rename fallback can leave `target` missing: then the new set,
    complete once its manifest is written, is moved in; else the old one is
    moved back.
    """
    target = Path(target)
    upcoming, previous = staging_paths(target)
    done = None
    if not target.exists():
        if (upcoming / MANIFEST).is_file():
            os.replace(upcoming, target)
            done = f"finished an interrupted switch of {target}"
        elif previous.exists():
            os.replace(previous, target)
            done = f"undid an interrupted switch of {target}"
    for leftover in (upcoming, previous):
        if leftover.exists():
            shutil.rmtree(leftover)
            done = done or f"removed what an interrupted switch of {target} left behind"
    return done


def install(
    source: str | os.PathLike,
    target: str | os.PathLike,
    expected: dict[str, str],
    checkpoint: Callable[[str], None] = lambda step: None,
) -> dict[str, Any]:
    """Make a copy of the model set in `source` the content of `target`, atomically; return its manifest.

    `expected` are the file hashes the set must have (what evaluation measured);
    the copy is checked against them before the switch, so a file that changed
    in between is never installed. `checkpoint(step)` is called after every file
    operation (tests stop the process there to check that the switch is atomic).
    """
    source, target = Path(source), Path(target)
    recover(target)
    upcoming, previous = staging_paths(target)
    upcoming.mkdir(parents=True)
    checkpoint(f"created {upcoming}")
    for name in MODEL_FILES:
        if (source / name).is_dir():
            shutil.copytree(source / name, upcoming / name, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(source / name, upcoming / name)
        checkpoint(f"copied {name}")
    copied = file_hashes(upcoming)
    if copied != expected:
        shutil.rmtree(upcoming)
        changed = sorted(path for path in set(copied) | set(expected) if copied.get(path) != expected.get(path))
        raise ModelSetError(f"{source} changed while it was copied ({', '.join(changed)}); nothing was switched")
    manifest = manifest_of(copied)
    write_json(manifest, upcoming / MANIFEST)  # last: a set with a manifest is complete
    _sync_tree(upcoming)
    checkpoint("wrote the manifest")
    if target.exists():
        exchange(upcoming, target)
        checkpoint(f"switched {target}")
        shutil.rmtree(upcoming)  # now the previous set
    else:
        os.replace(upcoming, target)
        checkpoint(f"switched {target}")
    checkpoint("removed the previous set")
    return manifest


def exchange(new: Path, target: Path) -> None:
    """Swap the folders `new` and `target` in one atomic step, where the system offers one."""
    if _exchange(new, target):
        return
    _, previous = staging_paths(target)
    os.replace(target, previous)  # `recover` finishes the switch if the process stops here
    os.replace(new, target)
    os.replace(previous, new)


def _exchange(a: Path, b: Path) -> bool:
    """Atomic exchange through the C library; False where the system or the file system has none."""
    libc_name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
    except OSError:
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rename_swap = 2
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), rename_swap)
    else:
        return False
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot exchange
        return False
    raise OSError(error, os.strerror(error), str(a))


def _sync_tree(folder: Path) -> None:
    """Flush the files of `folder` to disk, so a switch never exposes a set whose bytes are still in flight."""
    for path in [*folder.rglob("*"), folder]:
        if path.is_file() or path.is_dir():
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)
