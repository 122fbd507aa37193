import pytest

from {{ cookiecutter.package_name }}.runner import StageError, run_stage


def refuse_bad_input():
    raise StageError("tickets.csv has no label column")


def succeed():
    return 0


def test_an_expected_error_ends_the_stage_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_stage(refuse_bad_input)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "test_runner: tickets.csv has no label column\n"


def test_a_successful_stage_exits_with_its_code():
    with pytest.raises(SystemExit) as exit_info:
        run_stage(succeed)
    assert exit_info.value.code == 0
