"""dvc.yaml, params.yaml and the code agree, so `dvc repro` reruns exactly what a change affects."""

import ast
from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.params import load_params

PACKAGE = Path("src/{{ cookiecutter.package_name }}")
STAGES = [
    *("validate", "split", "train_classifier", "train_encoder"),
    *("evaluate", "promote", "embed", "index", "drift"),
]


def stages():
    return yaml.safe_load(Path("dvc.yaml").read_text())["stages"]


def package_modules_used_by(module: Path) -> set[Path]:
    """The package's own modules that `module` imports, directly or through each other."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for node in ast.walk(ast.parse(current.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = current.parent
                for _ in range(node.level - 1):
                    base = base.parent
                target = base / f"{node.module.replace('.', '/')}.py"
                if target.exists() and target not in seen:
                    seen.add(target)
                    todo.append(target)
    return seen


def test_stages_run_in_order_with_their_modules():
    assert list(stages()) == STAGES
    for name, stage in stages().items():
        assert stage["cmd"] == f"python -m {{ cookiecutter.package_name }}.stages.{name}"


def test_each_stage_depends_on_exactly_the_modules_it_runs():
    # a missing module would not rerun the stage when it changes; an extra one would rerun it for nothing
    for name, stage in stages().items():
        module = PACKAGE / "stages" / f"{name}.py"
        needed = {module} | package_modules_used_by(module)
        declared = {Path(dep) for dep in stage["deps"] if dep.startswith(f"{PACKAGE}/")}
        assert needed <= declared, f"{name} does not declare {sorted(map(str, needed - declared))}"
        assert declared <= needed, f"{name} declares modules it does not import: {sorted(map(str, declared - needed))}"


def test_every_declared_param_exists():
    params = load_params()
    for stage in stages().values():
        for dotted in stage.get("params", []):
            node = params
            for key in dotted.split("."):
                assert key in node, f"params.yaml lacks {dotted}"
                node = node[key]


def test_expectation_suites_only_name_existing_params():
    from {{ cookiecutter.package_name }}.stages.validate import TABLES, load_suite

    for table in TABLES:
        suite = load_suite(table, load_params(), {})
        assert suite["name"] == table and suite["expectations"]
