"""The retrieval benchmark must keep working: a small run on real docstrings produces every figure,
abstention on held-out documents included.

The full run (all ~4,000 pairs, with sentence-transformers) takes about 8 minutes
and is part of `make bench`; the suite runs 300 pairs with the default backend.
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import TEMPLATE_DIR, run

pytestmark = pytest.mark.xdist_group("retrieval_quality")


def test_small_run_reports_baselines_the_shipped_blend_and_the_sweep(tmp_path):
    result = run(
        [sys.executable, "benchmarks/retrieval_quality.py", "--limit", "300", "--backends", "tfidf-svd"]
        + ["--out", str(tmp_path)],
        TEMPLATE_DIR,
    )
    assert "TF-IDF cosine (scikit-learn defaults)" in result.stdout
    assert "tfidf-svd, as shipped (dense weight 0.3)" in result.stdout
    results = json.loads((tmp_path / "retrieval.json").read_text())
    assert results["pairs"] == 300
    shipped = results["backends"]["tfidf-svd"]
    sweep = shipped["sweep"]
    assert len(sweep) == 11 and shipped["dense_weight"] == 0.3 and shipped["shipped"] == sweep["0.3"]
    assert (shipped["bm25_only"], shipped["dense_only"]) == (sweep["0.0"], sweep["1.0"])
    assert all(0 < q["mrr"] <= q["recall_at_5"] <= 1 for q in sweep.values())
    assert (tmp_path / "retrieval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one document in five held out of the KB: its query has no answer; tuned on half the queries, measured on half
    abstention = shipped["abstention"]
    assert (abstention["held_out_documents"], abstention["measured_queries"]) == (60, 150)
    assert 0 < abstention["precision"] <= 1 and 0 < abstention["recall"] <= 1 and abstention["threshold"] > 0
    assert "abstention, 1 in 5 documents held out (60): threshold" in result.stdout


def test_a_docstring_splits_after_its_summary_and_signature_lines(monkeypatch):
    monkeypatch.syspath_prepend(str(TEMPLATE_DIR / "benchmarks"))
    from docstrings import split_docstring

    doc = "add(x1, x2, /, out=None)\n\nAdd arguments element-wise.\n\nParameters\n----------\n" + "x1 : array\n" * 10
    summary, rest = split_docstring(doc)
    assert summary == "Add arguments element-wise."
    assert rest.startswith("Parameters")
    assert split_docstring("Too short.") is None
