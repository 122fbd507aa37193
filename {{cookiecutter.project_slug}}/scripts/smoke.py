"""Smoke test of a running service: `python scripts/smoke.py http://127.0.0.1:8000` (`make smoke URL=...`).

Waits (bounded) until /ready answers 200, then checks one prediction, one search
and one bad request. Prints a line per check; exits 1 at the first failure.
Standard library only, so it runs from any Python against any instance (a
container, a staging deployment).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request


class SmokeError(Exception):
    """A check failed."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeError(message)


def call(url: str, body: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
    """Status and JSON answer of a GET (no body) or a JSON POST."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def wait_ready(base: str, seconds: float) -> dict:
    deadline, last = time.monotonic() + seconds, "no answer"
    while True:
        try:
            status, answer = call(f"{base}/ready", timeout=5)
            if status == 200:
                return answer
            last = f"{status} {answer.get('reason', answer)}"
        except (OSError, ValueError) as err:
            last = str(err)
        if time.monotonic() > deadline:
            raise SmokeError(f"/ready: not ready after {seconds:.0f} s ({last})")
        time.sleep(1)


def smoke(base: str, wait: float) -> None:
    ready = wait_ready(base, wait)
    print(f"ok   /ready: model set {ready['model_version']}")

    status, answer = call(f"{base}/predict", {"text": "I was charged twice for my subscription this month"})
    check(status == 200 and answer.get("label") in answer.get("probabilities", {}), f"/predict: {status} {answer}")
    print(f"ok   /predict: {answer['label']}")

    status, answer = call(f"{base}/search", {"query": "how do I reset my password", "k": 3})
    check(status == 200 and len(answer.get("results", [])) == 3, f"/search: {status} {answer}")
    print(f"ok   /search: {answer['results'][0]['id']} {answer['results'][0]['title']!r}")

    status, answer = call(f"{base}/predict", {"text": ""})
    check(status == 422 and "text" in answer.get("detail", ""), f"/predict with an empty text: {status} {answer}")
    print(f"ok   bad request refused: {status} {answer['detail']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL of the service, e.g. http://127.0.0.1:8000")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for /ready (default 60)")
    args = parser.parse_args()
    try:
        smoke(args.url.rstrip("/"), args.wait)
    except (SmokeError, OSError, ValueError) as err:
        print(f"FAIL {err}", file=sys.stderr)
        return 1
    print(f"smoke test passed: {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
