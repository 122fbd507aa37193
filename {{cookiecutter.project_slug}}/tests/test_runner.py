import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import {{ cookiecutter.package_name }}
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


def test_one_thread_also_limits_the_libraries_loaded_after_it():
    # SciPy's own BLAS and scikit-learn's OpenMP load lazily, after a stage starts: they must obey too
    script = (
        "from {{ cookiecutter.package_name }}.runner import one_thread\n"
        "with one_thread():\n"
        "    import scipy.linalg, sklearn.decomposition\n"
        "    import json\n"
        "    from threadpoolctl import threadpool_info\n"
        "    print(json.dumps([[i['internal_api'], i['num_threads']] for i in threadpool_info()]))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(Path({{ cookiecutter.package_name }}.__file__).parents[1])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {api for api, _ in found} >= {"openblas", "openmp"}
    assert {threads for _, threads in found} == {1}
