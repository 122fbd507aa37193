"""scripts/mutation_report.py on a mutants/ folder laid out as mutmut 3 writes it."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutation_report.py"
MUTATED_GATE = '''
def x_compare__mutmut_orig(a, b):
    """Original."""
    return a >= b


def x_compare__mutmut_1(a, b):
    """Original."""
    return a > b
'''


@pytest.fixture
def report():
    spec = importlib.util.spec_from_file_location("mutation_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_meta(root, module, codes):
    path = root / "mutants" / "src" / "pkg" / f"{module}.py.meta"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes}))


def mutants(tmp_path, gate_codes, other_codes):
    write_meta(tmp_path, "gate", {f"pkg.gate.x_compare__mutmut_{i + 1}": c for i, c in enumerate(gate_codes)})
    write_meta(
        tmp_path, "stages/embed", {f"pkg.stages.embed.x_f__mutmut_{i + 1}": c for i, c in enumerate(other_codes)}
    )
    (tmp_path / "mutants" / "src" / "pkg" / "gate.py").write_text(MUTATED_GATE)
    return tmp_path / "mutants"


def test_scores_per_module_and_the_survivors_with_their_line(report, tmp_path, capsys):
    # gate: 8 killed (exit 1), 1 timeout, 1 survivor (0); embed: 4 killed, 1 crashed (abort), 4 without tests, 1 skipped
    folder = mutants(tmp_path, [0] + [1] * 8 + [36], [1] * 4 + [-6] + [33] * 4 + [34])
    assert report.main(["--mutants", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["gate", "9", "10", "90.0%", "*"]
    assert lines[3].split() == ["stages.embed", "5", "9", "55.6%"]
    assert lines[5].split()[-3:] == ["9", "10", "90.0%"] and lines[6].split()[-3:] == ["14", "19", "73.7%"]
    assert "  survived  gate.x_compare__mutmut_1: return a >= b  ->  return a > b" in lines
    assert lines[-2:] == ["decisions: 90.0% killed, target 80%: PASS", "overall: 73.7% killed, target 70%: PASS"]


def test_a_missed_target_or_an_unfinished_run_fails(report, tmp_path, capsys):
    folder = mutants(tmp_path, [0, 0, 1], [1])
    assert report.main(["--mutants", str(folder)]) == 1
    assert "decisions: 33.3% killed, target 80%: FAIL" in capsys.readouterr().out
    folder = mutants(tmp_path, [1, 1, 1, 1, 1], [None, None])
    assert report.main(["--mutants", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "2 mutants not tested yet (an interrupted or partial run): the scores are incomplete" in out
    assert "(2 not tested yet)" in out
    assert report.main(["--mutants", str(folder), "--partial"]) == 0


def test_no_results_says_what_to_run(report, tmp_path, capsys):
    assert report.main(["--mutants", str(tmp_path / "mutants")]) == 1
    assert "run `mutmut run` (make mutation) first" in capsys.readouterr().out
