"""Access to `params.yaml`, the single home of every tunable value."""

from __future__ import annotations

import os
from typing import Any

import yaml

PARAMS_FILE = "params.yaml"


def load_params(path: str | os.PathLike = PARAMS_FILE) -> dict[str, Any]:
    """Load the whole parameter file (stages read their own top-level section)."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
