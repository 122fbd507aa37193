"""`make mutation` on a default bake: mutmut runs the project's own tests against the mutants it asks for.

The full run takes about an hour (docs/testing.md); this runs one small decision
module, enough to show that mutmut's copy of the project passes its own tests
(a test that reads a file mutmut does not copy breaks every `make mutation`) and
that the report reads mutmut's results.
"""

from __future__ import annotations

import re

import pytest
from conftest import bake, run

pytestmark = pytest.mark.xdist_group("mutation")

ROW = re.compile(r"^(?P<module>\S+)\s+(?P<killed>\d+)\s+(?P<mutants>\d+)\s+(?P<score>[\d.]+)%")


def test_make_mutation_scores_the_modules_it_was_asked_for(tmp_path):
    project = bake(tmp_path)
    result = run(["make", "mutation", "MUTANTS=support_triage.metrics*"], project, timeout=1800)
    rows = {match["module"]: match for line in result.stdout.splitlines() if (match := ROW.match(line))}
    metrics = rows["metrics"]
    assert int(metrics["mutants"]) > 50
    assert float(metrics["score"]) >= 80, result.stdout  # the decision modules' target
    assert re.search(r"^gate\s+0\s+0\s+-\s+\*\s+\(\d+ not tested yet\)$", result.stdout, re.MULTILINE), result.stdout
    assert "decisions: " in result.stdout and "not tested yet" in result.stdout
    # mutmut's copy of the project stays out of git and of the linter
    assert "mutants" not in run(["git", "status", "--porcelain"], project).stdout
    run(["ruff", "check", "."], project)
