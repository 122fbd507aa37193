"""Saving and loading models with skops: no pickle, byte-identical files.

skops never executes code on load, unlike pickle, so a model file from a
colleague or a DVC remote can be opened safely. Its archives are not
reproducible as they come (zip timestamps, object ids used as member names),
which would give DVC a new hash for the same model on every run; `save_model`
rewrites them into a canonical form.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from typing import Any

import skops.io as sio

from .io import write_bytes
from .runner import StageError

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_MEMBER = re.compile(r'"(\d+\.npy)"')
_OBJECT_ID = re.compile(r'"__id__": (\d+)')
# scikit-learn's vectorizers keep id(stop_words) to avoid repeated warnings.
_STOP_WORDS_ID = re.compile(r'("_stop_words_id": \{[^{}]*?"content": )"\d+"')


class UntrustedModelError(StageError):
    """A model file contains types that are not trusted to be loaded."""


def canonical_skops(raw: bytes) -> bytes:
    """Rewrite a skops archive so equal models give equal bytes.

    Member names and ``__id__`` values (process memory addresses) are renumbered
    in order of first appearance, and every zip entry gets a fixed date.
    """
    source = zipfile.ZipFile(io.BytesIO(raw))
    schema = source.read("schema.json").decode("utf-8")
    arrays = sorted(
        (name for name in source.namelist() if name != "schema.json"),
        key=lambda name: schema.index(f'"{name}"'),
    )
    renamed = {old: f"{i:06d}.npy" for i, old in enumerate(arrays)}
    schema = _MEMBER.sub(lambda m: f'"{renamed[m.group(1)]}"', schema)
    ids: dict[str, int] = {}
    schema = _OBJECT_ID.sub(lambda m: f'"__id__": {ids.setdefault(m.group(1), len(ids))}', schema)
    schema = _STOP_WORDS_ID.sub(r'\1"0"', schema)

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        members = [("schema.json", schema.encode("utf-8"))]
        members += [(renamed[old], source.read(old)) for old in arrays]
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, data)
    return out.getvalue()


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Save `model` with skops in canonical form, atomically."""
    write_bytes(canonical_skops(sio.dumps(model)), path)


def load_model(path: str | os.PathLike, trusted: list[str] | None = None) -> Any:
    """Load a skops model, refusing any type outside skops' defaults and `trusted`.

    Raises UntrustedModelError naming the types instead of loading them.
    """
    trusted = list(trusted or [])
    unknown = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
    if unknown:
        raise UntrustedModelError(
            f"{path} contains types that are not trusted: {', '.join(unknown)}. "
            "Inspect the file, then add them to the trusted list if you expect them."
        )
    return sio.load(path, trusted=trusted or None)
