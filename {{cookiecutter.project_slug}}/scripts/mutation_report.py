"""The mutation score of each module, from mutmut's own result files (`make mutation`).

mutmut 3 keeps one `mutants/<source file>.meta` per mutated file: the exit code of
the tests against each mutant. This script turns them into a table (killed / mutants
per module), checks the targets (the modules that make decisions, and all of `src/`)
and lists the mutants that survived in the decision modules, each with the line it
changed. A survivor is either a gap in the tests or an equivalent mutant (a change
that no input can tell apart); docs list the known equivalent ones and why.

Usage: python scripts/mutation_report.py [--mutants mutants] [--decisions 80] [--overall 70] [--partial]
Exit code 1 when a target is missed or (unless --partial) some mutants were not tested yet.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py): a mutant is killed when the tests fail, time out,
# crash or a type checker rejects it; it survives when the tests pass or none runs it.
# mutmut calls an abort (-6, SIGABRT: e.g. faiss's own assertion on a mutated argument) "suspicious";
# the tests' process died of the mutant, so here it is a crash like a segfault.
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
KILLED |= {-11: "segfault", -9: "segfault", -6: "crashed", 37: "caught by type check"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}
NOT_COUNTED = {34: "skipped", None: "not checked", 2: "interrupted"}
DECISIONS = ("gate", "stages.promote", "stages.evaluate", "stages.validate", "metrics", "retrieval")


def read_results(mutants: Path) -> dict[str, dict[str, int | None]]:
    """{module: {mutant name: exit code}} for every mutated file under `mutants/src`."""
    results = {}
    for meta in sorted((mutants / "src").rglob("*.py.meta")):
        relative = meta.relative_to(mutants / "src").with_suffix("").with_suffix("")
        module = ".".join(relative.parts)
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        if codes:
            results[module.removesuffix(".__init__")] = codes
    return results


def score(codes: dict[str, int | None]) -> tuple[int, int, int]:
    """(killed, counted, not yet tested): skipped mutants are not counted, untested ones are reported."""
    killed = sum(code in KILLED for code in codes.values())
    pending = sum(code not in KILLED and code not in SURVIVED and code != 34 for code in codes.values())
    counted = sum(code != 34 for code in codes.values()) - pending
    return killed, counted, pending


def percent(killed: int, counted: int) -> float:
    return 100.0 * killed / counted if counted else 0.0


def short_name(module: str, package: str) -> str:
    return module.removeprefix(package + ".")


def is_decision(module: str, package: str) -> bool:
    return short_name(module, package) in DECISIONS


def function_bodies(source: Path) -> dict[str, list[str]]:
    """Each function of mutmut's mutated copy of a file (the original and every mutant), as body lines."""
    try:
        text = source.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError):
        return {}
    lines = text.splitlines()
    return {
        node.name: lines[node.lineno : node.end_lineno]
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name
    }


def changed_line(bodies: dict[str, list[str]], mutant: str) -> str:
    """The first line the mutant changes, as `old  ->  new`."""
    function = mutant.rsplit(".", 1)[-1]
    original = bodies.get(function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
    if original is None or function not in bodies:
        return ""
    diff = [line for line in difflib.ndiff(original, bodies[function]) if line[:2] in ("- ", "+ ")]
    removed = next((line[2:].strip() for line in diff if line.startswith("- ")), "")
    added = next((line[2:].strip() for line in diff if line.startswith("+ ")), "(line removed)")
    return f"{removed}  ->  {added}"


def report(results: dict[str, dict[str, int | None]], package: str, mutants: Path) -> tuple[list[str], dict]:
    """The printed lines and the totals {"decisions": (killed, counted), "overall": ..., "pending": n}."""
    width = max([len("module")] + [len(short_name(m, package)) for m in results])
    lines = [f"{'module':<{width}}  killed  mutants   score", f"{'-' * width}  ------  -------  ------"]
    rule = lines[1]
    totals = {"decisions": [0, 0], "overall": [0, 0], "pending": 0}
    for module, codes in sorted(results.items(), key=lambda item: short_name(item[0], package)):
        killed, counted, pending = score(codes)
        mark = " *" if is_decision(module, package) else ""
        shown = f"{percent(killed, counted):5.1f}%" if counted else "   -  "
        untested = f"  ({pending} not tested yet)" if pending else ""
        lines.append(f"{short_name(module, package):<{width}}  {killed:6d}  {counted:7d}  {shown}{mark}{untested}")
        for group in ("overall", "decisions") if mark else ("overall",):
            totals[group][0] += killed
            totals[group][1] += counted
        totals["pending"] += pending
    lines.append(rule)
    for group, label in (("decisions", "decision modules (*)"), ("overall", f"all of src/{package}")):
        killed, counted = totals[group]
        lines.append(f"{label:<{width}}  {killed:6d}  {counted:7d}  {percent(killed, counted):5.1f}%")

    survivors = []
    for module, codes in sorted(results.items()):
        if not is_decision(module, package):
            continue
        names = sorted((name for name, code in codes.items() if code in SURVIVED), key=natural_key)
        bodies = function_bodies(mutants / "src" / Path(*module.split(".")).with_suffix(".py")) if names else {}
        for name in names:
            survivors.append(f"  {SURVIVED[codes[name]]:<9} {short_name(name, package)}: {changed_line(bodies, name)}")
    if survivors:
        lines += ["", f"Survivors in the decision modules ({len(survivors)}; `mutmut show <name>` shows one):"]
        lines += survivors
    return lines, totals


def natural_key(name: str) -> tuple[str, int]:
    base, _, number = name.rpartition("__mutmut_")
    return (base, int(number) if number.isdigit() else -1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's output folder")
    parser.add_argument("--decisions", type=float, default=80.0, help="target for the decision modules, in percent")
    parser.add_argument("--overall", type=float, default=70.0, help="target for all of src/, in percent")
    parser.add_argument("--partial", action="store_true", help="a run of some mutants only: untested ones do not fail")
    args = parser.parse_args(argv)

    results = read_results(args.mutants)
    if not results:
        print(f"mutation report: no results under {args.mutants}/src: run `mutmut run` (make mutation) first")
        return 1
    package = next(iter(results)).split(".")[0]
    lines, totals = report(results, package, args.mutants)
    print("\n".join(lines))
    missed = []
    for group, target in (("decisions", args.decisions), ("overall", args.overall)):
        value = percent(*totals[group])
        print(f"{group}: {value:.1f}% killed, target {target:g}%: {'PASS' if value >= target else 'FAIL'}")
        if value < target:
            missed.append(group)
    if totals["pending"]:
        print(f"{totals['pending']} mutants not tested yet (an interrupted or partial run): the scores are incomplete")
    return 1 if missed or (totals["pending"] and not args.partial) else 0


if __name__ == "__main__":
    sys.exit(main())
