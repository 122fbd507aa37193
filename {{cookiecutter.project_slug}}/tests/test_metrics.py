from {{ cookiecutter.package_name }}.metrics import markdown_table


def test_metrics_table_has_one_sorted_row_per_metric():
    table = markdown_table({"retrieval.mrr": 0.57341, "classification.accuracy": 0.8875, "must_pass.failed": 0})
    rows = table.splitlines()
    assert rows[0].startswith("| metric") and len(rows) == 5
    assert rows[0] == "| metric                  |  value |"
    assert rows[1] == "|-------------------------|-------:|"
    assert rows[2] == "| classification.accuracy | 0.8875 |"
    assert rows[3] == "| must_pass.failed        |      0 |"
    assert rows[4] == "| retrieval.mrr           | 0.5734 |"
