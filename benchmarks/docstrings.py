"""A retrieval corpus that is on every machine and that nobody here wrote: docstrings.

For each public function, class and method of numpy, scipy, scikit-learn and
pandas (the installed versions), the query is the docstring's one-line summary
and the relevant document is the rest of the docstring. Pairs whose summary or
body occurs twice (aliases, inherited docstrings) are dropped, so every query
has exactly one relevant document.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import warnings
from dataclasses import dataclass

PACKAGES = ("numpy", "scipy", "sklearn", "pandas")
# A signature line at the top of a C function's docstring, e.g. "add(x1, x2, /, out=None, *, where=True)".
SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")
MIN_QUERY_WORDS = 3
MIN_BODY_CHARS = 100


@dataclass(frozen=True)
class Pair:
    name: str  # qualified name of the documented object
    query: str
    document: str


def split_docstring(doc: str) -> tuple[str, str] | None:
    """(summary, rest) of a docstring: the first paragraph, not counting signature lines, and what follows it."""
    lines = inspect.cleandoc(doc).splitlines()
    while lines and (not lines[0].strip() or SIGNATURE.match(lines[0].strip())):
        lines.pop(0)
    if "" not in lines:
        return None
    cut = lines.index("")
    summary = " ".join(line.strip() for line in lines[:cut])
    rest = "\n".join(lines[cut + 1 :]).strip()
    if len(summary.split()) < MIN_QUERY_WORDS or len(rest) < MIN_BODY_CHARS:
        return None
    return summary, rest


def public_modules(package: str) -> list:
    """The package and its public submodules that import cleanly (no tests, no private modules)."""
    root = importlib.import_module(package)
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        parts = info.name.split(".")
        if any(part.startswith("_") or part in {"tests", "testing", "conftest", "setup"} for part in parts):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except Exception:  # optional dependencies, deprecated modules: skipped
            continue
    return modules


def documented_objects(package: str) -> dict[str, object]:
    """Public functions, classes and methods defined in `package`, by qualified name (first name wins)."""
    found: dict[str, object] = {}
    seen: set[int] = set()
    for module in public_modules(package):
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or id(obj) in seen:
                continue
            if not (inspect.isclass(obj) or callable(obj)) or not getattr(obj, "__doc__", None):
                continue
            if not str(getattr(obj, "__module__", "") or "").startswith(package):
                continue
            seen.add(id(obj))
            found[f"{module.__name__}.{name}"] = obj
            if inspect.isclass(obj):
                for method_name, method in sorted(vars(obj).items()):
                    if not method_name.startswith("_") and callable(method) and id(method) not in seen:
                        seen.add(id(method))
                        found[f"{module.__name__}.{name}.{method_name}"] = method
    return found


def docstring_pairs(packages: tuple[str, ...] = PACKAGES) -> list[Pair]:
    """Query/document pairs from the docstrings of `packages`, sorted by name; duplicates dropped."""
    candidates: list[Pair] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for package in packages:
            for name, obj in sorted(documented_objects(package).items()):
                doc = getattr(obj, "__doc__", None)
                parts = split_docstring(doc) if isinstance(doc, str) else None
                if parts:
                    candidates.append(Pair(name, *parts))
    query_count: dict[str, int] = {}
    body_count: dict[str, int] = {}
    for pair in candidates:
        query_count[pair.query] = query_count.get(pair.query, 0) + 1
        body_count[pair.document] = body_count.get(pair.document, 0) + 1
    return [p for p in candidates if query_count[p.query] == 1 and body_count[p.document] == 1]
