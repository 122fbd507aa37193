"""Shared fixtures: small, fast stand-ins for the pipeline's real inputs."""

import pandas as pd
import pytest

TEXTS = [
    "I was charged twice for my subscription this month",
    "please refund the duplicate payment on my card",
    "I cannot log in, the password reset email never arrives",
    "my account is locked after too many login attempts",
    "the parcel has not arrived and tracking shows no update",
    "my order was delivered to the wrong address",
    "the app crashes when I open the settings page",
    "error 500 when uploading a file from the dashboard",
]
LABELS = ["billing", "billing", "account_access", "account_access", "shipping", "shipping", "bug", "bug"]


@pytest.fixture
def texts():
    return list(TEXTS)


@pytest.fixture
def labels():
    return list(LABELS)


@pytest.fixture
def tickets():
    return pd.DataFrame(
        {
            "id": [f"T{i:06d}" for i in range(len(TEXTS))],
            "text": TEXTS,
            "label": LABELS,
            "created_at": ["2024-05-01T10:00:00"] * len(TEXTS),
            "channel": ["email", "chat", "web", "phone"] * (len(TEXTS) // 4),
        }
    )


@pytest.fixture
def make_encoder():
    """Build a small tf-idf + SVD encoder (4 dimensions) fitted on `texts` in `folder`/encoder, and load it."""
    from {{ cookiecutter.package_name }}.encoders import Encoder, build_encoder
    from {{ cookiecutter.package_name }}.params import load_params

    def make(folder, texts):
        params = load_params()["encoder"]
        params["tfidf_svd"] = {**params["tfidf_svd"], "n_components": 4, "stop_words": False}
        build_encoder("tfidf-svd", texts, params, folder / "encoder")
        return Encoder(folder / "encoder")

    return make


@pytest.fixture
def help_lines(monkeypatch, capsys):
    """What `--help` prints for a command, one option per line with spaces collapsed, as users read it."""
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that argparse never wraps an option's text

    def show(parse_args, command):
        with pytest.raises(SystemExit) as done:
            parse_args([*command, "--help"])
        assert done.value.code == 0
        return [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]

    return show
