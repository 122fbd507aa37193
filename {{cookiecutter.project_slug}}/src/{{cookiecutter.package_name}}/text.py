"""How records become the text that models read."""

from __future__ import annotations

import pandas as pd


def kb_documents(kb: pd.DataFrame) -> list[str]:
    """An article as the encoder sees it: its title, then its body."""
    return (kb["title"].astype(str) + ". " + kb["body"].astype(str)).tolist()
