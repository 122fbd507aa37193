from {{ cookiecutter.package_name }}.metrics import main, markdown_table, read_metrics


def test_metrics_table_has_one_sorted_row_per_metric():
    table = markdown_table({"retrieval.mrr": 0.57341, "classification.accuracy": 0.8875, "must_pass.failed": 0})
    rows = table.splitlines()
    assert rows[0].startswith("| metric") and len(rows) == 5
    assert rows[0] == "| metric                  |  value |"
    assert rows[1] == "|-------------------------|-------:|"
    assert rows[2] == "| classification.accuracy | 0.8875 |"
    assert rows[3] == "| must_pass.failed        |      0 |"
    assert rows[4] == "| retrieval.mrr           | 0.5734 |"


def test_metrics_are_read_through_dvc_as_dotted_names(tmp_path, monkeypatch, capsys):
    (tmp_path / ".dvc").mkdir()  # a DVC repository without git, as `dvc init --no-scm` makes (its logger is not set up)
    (tmp_path / ".dvc" / "config").write_text("[core]\n    no_scm = True\n")
    (tmp_path / "dvc.yaml").write_text("metrics:\n- a.json\n- b.json\n")
    (tmp_path / "a.json").write_text('{"classification": {"accuracy": 0.9, "per_class": {"bug": {"f1": 0.5}}}}')
    (tmp_path / "b.json").write_text('{"must_pass": {"failed": 2}}')
    monkeypatch.chdir(tmp_path)
    assert read_metrics() == {
        "classification.accuracy": 0.9,
        "classification.per_class.bug.f1": 0.5,
        "must_pass.failed": 2,
    }
    assert main() == 0
    assert capsys.readouterr().out.splitlines()[-3:] == [
        "| classification.accuracy         | 0.9000 |",
        "| classification.per_class.bug.f1 | 0.5000 |",
        "| must_pass.failed                |      2 |",
    ]
