"""dvc.yaml and params.yaml agree: every stage has its module and its params section."""

from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.params import load_params

STAGES = [
    "sample_data",
    "validate",
    "split",
    "train_classifier",
    "train_encoder",
    "evaluate",
    "promote",
    "embed",
    "index",
]


def test_stages_exist_in_order_with_their_modules():
    stages = yaml.safe_load(Path("dvc.yaml").read_text())["stages"]
    assert list(stages) == STAGES
    for name, stage in stages.items():
        assert stage["cmd"] == f"python -m {{ cookiecutter.package_name }}.stages.{name}"
        assert Path(f"src/{{ cookiecutter.package_name }}/stages/{name}.py").exists()


def test_every_declared_param_exists():
    params = load_params()
    for stage in yaml.safe_load(Path("dvc.yaml").read_text())["stages"].values():
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
