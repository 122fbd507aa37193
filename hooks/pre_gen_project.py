"""Validate the cookiecutter answers before any file is written.

Why: a bad answer (a slug that is not a valid folder/repo name, a package that
shadows the stdlib or a dependency, an unsupported Python, an S3 bucket that
AWS would refuse) otherwise surfaces much later as a confusing install, import
or ``dvc push`` error. This hook stops generation early with ONE line on stderr,
``ERROR: <key> ...: <what is allowed>``, for the first failing answer, and exits 1.

Each check takes all answers and returns an error message or None. Choice
values are repeated in ``CHOICES`` (keep in sync with cookiecutter.json; a
template test compares them). Plain standard library only, so ``cookiecutter``
and ``cruft create`` can run it without extra packages.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from urllib.parse import urlsplit

# Rendered by cookiecutter; ``tojson`` escapes quotes, so any answer is safe here.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "embedding_backend": ("tfidf-svd", "sentence-transformers"),
    "vector_index": ("exact", "hnsw"),
    "dvc_remote": ("local", "s3", "none"),
    "ci_provider": ("github", "gitlab", "none"),
    "serving": ("fastapi", "none"),
    "license": ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"),
}

# Top-level modules the generated project imports; a package with one of these names would shadow it.
DEPENDENCY_MODULES = frozenset(
    {
        "dvc",
        "great_expectations",
        "sklearn",
        "pandas",
        "numpy",
        "skops",
        "dvclive",
        "yaml",
        "faiss",
        "sentence_transformers",
        "pytest",
        "fastapi",
        "starlette",
        "pydantic",
        "uvicorn",
        "httpx",
    }
)

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
IPV4_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")


def get(a: dict, key: str) -> str:
    return str(a.get(key, ""))


def check_project_name(a: dict) -> str | None:
    if not get(a, "project_name").strip():
        return "ERROR: project_name is empty: give a human-readable name, e.g. 'Support Triage'."
    return plain_text("project_name")(a)


def plain_text(key: str):
    """Check for a free-text answer that ends up in pyproject.toml and the README."""

    def check(a: dict) -> str | None:
        value = get(a, key)
        # TOML has no escape for characters beyond U+FFFF once JSON-encoded, nor for control characters
        if any(ord(c) > 0xFFFF or (ord(c) < 32 and c != "\t") for c in value):
            return (
                f"ERROR: {key} {value!r} contains a control character or an emoji-range character: "
                "use printable text (accented letters and other scripts are fine)."
            )
        return None

    return check


def check_project_slug(a: dict) -> str | None:
    slug = get(a, "project_slug")
    if not (2 <= len(slug) <= 64 and SLUG_RE.fullmatch(slug)):
        return (
            f"ERROR: project_slug {slug!r} is invalid: use 2-64 characters, lowercase letters and digits, "
            "starting with a letter, words joined by single hyphens (e.g. support-triage)."
        )
    return None


def check_package_name(a: dict) -> str | None:
    name = get(a, "package_name")
    form = "use lowercase letters, digits and underscores, starting with a letter (e.g. support_triage)"
    if not PACKAGE_RE.fullmatch(name):
        return f"ERROR: package_name {name!r} is not a valid package name: {form}."
    if keyword.iskeyword(name):
        return f"ERROR: package_name {name!r} is a Python keyword: {form}, and not a keyword."
    if name in getattr(sys, "stdlib_module_names", ()):
        return f"ERROR: package_name {name!r} would shadow a stdlib module: {form}, not a stdlib name."
    if name in DEPENDENCY_MODULES:
        return (
            f"ERROR: package_name {name!r} would shadow a dependency of the project: {form}, "
            f"not one of {', '.join(sorted(DEPENDENCY_MODULES))}."
        )
    return None


def check_author_email(a: dict) -> str | None:
    email = get(a, "author_email")
    if not EMAIL_RE.fullmatch(email):
        return f"ERROR: author_email {email!r} is not an email address: use the form name@example.com."
    return None


def choice(key: str):
    """Check for a choice prompt: cookiecutter refuses bad --no-input choices itself, but not replay files."""

    def check(a: dict) -> str | None:
        value, allowed = get(a, key), CHOICES[key]
        if value not in allowed:
            return f"ERROR: {key} {value!r} is not allowed: choose one of {', '.join(allowed)}."
        return None

    return check


def uses_s3(a: dict) -> bool:
    return get(a, "dvc_remote") == "s3"  # the s3_* answers are unused (and unchecked) otherwise


def check_s3_bucket(a: dict) -> str | None:
    if not uses_s3(a):
        return None
    bucket = get(a, "s3_bucket")
    problem = None
    if not 3 <= len(bucket) <= 63:
        problem = "it must be 3-63 characters long"
    elif not BUCKET_RE.fullmatch(bucket):
        problem = "use only lowercase letters, digits, dots and hyphens; begin and end with a letter or digit"
    elif ".." in bucket:
        problem = "it must not contain two adjacent dots"
    elif IPV4_RE.fullmatch(bucket):
        problem = "it must not be formatted like an IP address"
    elif bucket.startswith(BUCKET_BAD_PREFIXES):
        problem = f"it must not start with {', '.join(BUCKET_BAD_PREFIXES)}"
    elif bucket.endswith(BUCKET_BAD_SUFFIXES):
        problem = f"it must not end with {', '.join(BUCKET_BAD_SUFFIXES)}"
    if problem:
        return (
            f"ERROR: s3_bucket {bucket!r} is not a valid S3 bucket name: {problem} "
            "(3-63 chars of a-z, 0-9, '.', '-'; e.g. my-dvc-bucket)."
        )
    return None


def check_s3_prefix(a: dict) -> str | None:
    if not uses_s3(a):
        return None
    prefix = get(a, "s3_prefix")
    if prefix.startswith("/") or ".." in prefix.split("/") or re.search(r"\s", prefix):
        return (
            f"ERROR: s3_prefix {prefix!r} is invalid: use a key prefix like 'team/project' "
            "with no leading '/', no '..' segments and no whitespace (empty is allowed)."
        )
    return None


def check_s3_endpoint_url(a: dict) -> str | None:
    if not uses_s3(a):
        return None
    url = get(a, "s3_endpoint_url")
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host or re.search(r"\s", url):
        return (
            f"ERROR: s3_endpoint_url {url!r} is invalid: leave it empty for AWS, or give an http:// "
            "or https:// URL with a host (e.g. http://localhost:9000)."
        )
    return None


def check_s3_region(a: dict) -> str | None:
    if not uses_s3(a):
        return None
    region = get(a, "s3_region")
    if region == "" and get(a, "s3_endpoint_url"):
        return None
    if not REGION_RE.fullmatch(region):
        return (
            f"ERROR: s3_region {region!r} is not an AWS region name: use the form us-east-1 or eu-west-3 "
            "(it may be empty only when s3_endpoint_url is set)."
        )
    return None


# One check per answer, in prompt order, so the first failure reported is the first wrong answer.
# The s3 URL is checked before the region because an empty region is fine only with a URL.
CHECKS = {
    "project_name": check_project_name,
    "project_slug": check_project_slug,
    "package_name": check_package_name,
    "author_name": plain_text("author_name"),
    "author_email": check_author_email,
    "description": plain_text("description"),
    "python_version": choice("python_version"),
    "embedding_backend": choice("embedding_backend"),
    "vector_index": choice("vector_index"),
    "dvc_remote": choice("dvc_remote"),
    "s3_bucket": check_s3_bucket,
    "s3_prefix": check_s3_prefix,
    "s3_endpoint_url": check_s3_endpoint_url,
    "s3_region": check_s3_region,
    "ci_provider": choice("ci_provider"),
    "license": choice("license"),
}


def first_error(answers: dict) -> str | None:
    for check in CHECKS.values():
        message = check(answers)
        if message:
            return message
    return None


def main() -> int:
    message = first_error(ANSWERS)
    if message:
        print(message, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
