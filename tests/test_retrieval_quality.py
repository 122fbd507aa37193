"""The retrieval benchmarks must keep working: a small run on real docstrings produces every figure,
abstention on held-out documents included, and the abstention signals are measured on the demo and docstrings.

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


def test_abstention_signals_reproduce_the_shipped_rule_and_measure_every_candidate(tmp_path):
    """The signal benchmark scores the demo's golden queries and held-out docstrings; its row for the shipped
    rule is the figure `make tune-abstention` gives on the demo, and its table lands between the doc's markers."""
    doc = tmp_path / "page.md"
    doc.write_text("before\n<!-- abstention:start -->\nold table\n<!-- abstention:end -->\nafter\n")
    result = run(
        [sys.executable, "benchmarks/abstention_signals.py", "--limit", "300", "--backends", "tfidf-svd"]
        + ["--out", str(tmp_path), "--doc", str(doc)],
        TEMPLATE_DIR,
    )
    found = json.loads((tmp_path / "abstention.json").read_text())["tfidf-svd"]
    demo, held_out = found["demo"], found["docstrings"]
    assert (demo["queries"], demo["no_answer"]) == (125, 20)
    assert (held_out["queries"], held_out["no_answer"]) == (300, 60)
    # the shipped rule, tuned on every golden query: the figures of docs/evaluation-set.md
    shipped = demo["signals"]["top"]
    assert (shipped["threshold"], shipped["precision"], shipped["recall"]) == (2.619, 0.4, 0.4)
    assert 0 < demo["answerable_not_first"] < 105
    assert 0 < held_out["median_best_cosine_no_answer"] <= 1 and 0 < held_out["median_own_cosine_answerable"] <= 1
    names = {"top", "margin", "dense", "bm25", "bm25_attainable", "idf_share", "clarity", "logistic"}
    assert set(demo["signals"]) == names | {"ticket", "label"} and set(held_out["signals"]) == names
    for measured in [*demo["signals"].values(), *held_out["signals"].values()]:
        assert 0 <= measured["auc"] <= 1
        assert all(0 <= measured[key] <= 1 for key in ("precision", "recall", "held_out_precision", "held_out_recall"))
    assert "top hybrid score (shipped)" in result.stdout
    page = doc.read_text()
    assert page.startswith("before\n<!-- abstention:start -->\n| encoder | signal | demo AUC |")
    assert page.endswith("<!-- abstention:end -->\nafter\n") and "old table" not in page
    assert "| tfidf-svd | cosine to the nearest training ticket | " in page


def test_a_docstring_splits_after_its_summary_and_signature_lines(monkeypatch):
    monkeypatch.syspath_prepend(str(TEMPLATE_DIR / "benchmarks"))
    from docstrings import split_docstring

    doc = "add(x1, x2, /, out=None)\n\nAdd arguments element-wise.\n\nParameters\n----------\n" + "x1 : array\n" * 10
    summary, rest = split_docstring(doc)
    assert summary == "Add arguments element-wise."
    assert rest.startswith("Parameters")
    assert split_docstring("Too short.") is None
