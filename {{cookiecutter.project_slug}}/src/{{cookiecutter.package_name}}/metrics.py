"""Reading the pipeline's metrics through DVC, and showing them as a readable table.

`python -m {{ cookiecutter.package_name }}.metrics` (or `make metrics`) prints one row per metric,
which stays readable where `dvc metrics show` puts every metric in its own column.
"""

from __future__ import annotations

import sys
from typing import Any

from .params import flatten


def read_metrics(rev: str | None = None) -> dict[str, Any]:
    """All metrics declared in dvc.yaml at `rev` (the workspace by default), as dotted keys.

    Uses DVC's Python API, which raises when a metrics file cannot be read
    (where `dvc metrics diff` would print nothing and succeed).
    """
    import dvc.api

    return flatten(dvc.api.metrics_show(rev=rev))


def markdown_table(metrics: dict[str, Any]) -> str:
    """A two-column Markdown table, metrics in sorted order, both columns aligned.

    Values are right-aligned (numbers line up on their last digit); floats show four decimals.
    """
    shown = {name: f"{value:.4f}" if isinstance(value, float) else str(value) for name, value in metrics.items()}
    width = max([len("metric")] + [len(name) for name in shown])
    value_width = max([len("value")] + [len(value) for value in shown.values()])
    lines = [f"| {'metric':<{width}} | {'value':>{value_width}} |", f"|{'-' * (width + 2)}|{'-' * (value_width + 1)}:|"]
    for name in sorted(shown):
        lines.append(f"| {name:<{width}} | {shown[name]:>{value_width}} |")
    return "\n".join(lines)


def support_of(metric: str, metrics: dict[str, Any]) -> int | None:
    """The number of cases behind a slice metric (`slices.<table>.<dimension>.<value>.<name>`, see slices.py)."""
    parts = metric.split(".")
    if len(parts) != 5 or parts[0] != "slices":
        return None
    support = metrics.get(".".join([*parts[:4], "support"]))
    return support if isinstance(support, int) and not isinstance(support, bool) else None


def dimension_of(metric: str) -> str | None:
    """`slices.tickets.channel.chat.accuracy` -> `slices.tickets.channel`: the group a slice row is shown in."""
    parts = metric.split(".")
    return ".".join(parts[:3]) if len(parts) == 5 and parts[0] == "slices" else None


def main() -> int:
    print(markdown_table(read_metrics()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
