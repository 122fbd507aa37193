"""Two model sets behind one service: canary and shadow routing, and the decision log.

Set by the service's environment (``serve.py`` reads it at start-up):

- ``ROLLOUT_MODE``: ``off`` (default), ``canary`` or ``shadow``;
- ``CANDIDATE_DIR``: a model-set folder laid out like ``models/production`` (what
  ``registry fetch`` writes), with its index in ``CANDIDATE_DIR/index`` unless
  ``CANDIDATE_INDEX_DIR`` says otherwise;
- ``CANARY_PERCENT`` (0–100): the share of requests the candidate answers in canary
  mode. The side is a stable hash of the routing key (the request's ``ticket_id``,
  else its ``X-Request-ID``): the same key always gets the same side;
- ``SHADOW_MAX_PENDING`` (default 16): shadow calls waiting or running at once; a
  request beyond that is answered by production as always and its shadow call is
  skipped (logged as such), so the candidate can never slow production down;
- ``DECISION_LOG``: a file of JSON lines, one per model call: request id, time,
  endpoint, mode, the side that answered, and for each side that ran its version,
  answer (labels or article ids, never text unless ``LOG_REQUEST_TEXT``), latency
  and error. Written by a background thread (requests never wait for the disk)
  and rotated by size: ``DECISION_LOG_MAX_BYTES`` (default 50 MB), keeping
  ``DECISION_LOG_BACKUPS`` old files (default 5) as ``FILE.1`` (newest) and up.

``python -m {{ cookiecutter.package_name }}.rollout decide`` reads that log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import logging.handlers
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MODES = ("off", "canary", "shadow")
BUCKETS = 10_000  # canary shares are set to 0.01 %


class RolloutSettingsError(ValueError):
    """A rollout setting in the environment is not valid; the message names it."""


def to_candidate(key: str, percent: float) -> bool:
    """Whether the routing key goes to the candidate: a stable hash, so one key always gets the same side."""
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % BUCKETS
    return bucket < round(percent * BUCKETS / 100)


@dataclass(frozen=True)
class Settings:
    mode: str = "off"
    candidate_dir: str | None = None
    candidate_index_dir: str | None = None
    canary_percent: float = 0.0
    shadow_max_pending: int = 16
    decision_log: str | None = None
    log_max_bytes: int = 50_000_000
    log_backups: int = 5


def _number(env: dict[str, str], name: str, default: str, kind: type, low: float, high: float | None = None):
    text = env.get(name, default)
    try:
        value = kind(text)
    except ValueError:
        raise RolloutSettingsError(f"{name} must be a number, got {text!r}") from None
    if value != value or value < low or (high is not None and value > high):  # NaN fails too
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise RolloutSettingsError(f"{name} must be {bounds}, got {text!r}")
    return value


def settings_from(env: dict[str, str]) -> Settings:
    """The rollout settings of an environment, checked; one-line errors name the variable."""
    mode = env.get("ROLLOUT_MODE", "off").strip().lower() or "off"
    if mode not in MODES:
        raise RolloutSettingsError(f"ROLLOUT_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    candidate_dir = env.get("CANDIDATE_DIR") or None
    if mode != "off" and not candidate_dir:
        raise RolloutSettingsError(f"ROLLOUT_MODE={mode} needs CANDIDATE_DIR (a model-set folder)")
    index_dir = env.get("CANDIDATE_INDEX_DIR") or (os.path.join(candidate_dir, "index") if candidate_dir else None)
    return Settings(
        mode=mode,
        candidate_dir=candidate_dir,
        candidate_index_dir=index_dir,
        canary_percent=_number(env, "CANARY_PERCENT", "0", float, 0, 100),
        shadow_max_pending=_number(env, "SHADOW_MAX_PENDING", "16", int, 1),
        decision_log=env.get("DECISION_LOG") or None,
        log_max_bytes=_number(env, "DECISION_LOG_MAX_BYTES", "50000000", int, 1),
        log_backups=_number(env, "DECISION_LOG_BACKUPS", "5", int, 0),
    )


class _JsonLines(logging.handlers.QueueListener):
    """Turns each queued record (a dict) into its JSON line on the listener's thread, not the request's."""

    def prepare(self, record: Any) -> logging.LogRecord:
        return logging.makeLogRecord({"msg": json.dumps(record, ensure_ascii=False, separators=(",", ":"))})


class DecisionLog:
    """JSON lines written off the request path (a queue and one thread), rotated by size.

    A request only puts its record (a dict) on the queue; serialising and writing
    happen on the writer thread (stdlib QueueListener + RotatingFileHandler).
    """

    def __init__(self, path: str, max_bytes: int, backups: int):
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._listener = _JsonLines(self._queue, handler)
        self._listener.start()

    def write(self, record: dict[str, Any]) -> None:
        self._queue.put(record)  # complete when written: nothing changes a record after this

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self._listener.stop()
        for handler in self._listener.handlers:
            handler.close()


def side_entry(version: str, started: float, answer: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": version, "latency_ms": round((time.perf_counter() - started) * 1000, 3)}
    if error is None:
        entry["answer"] = answer
    else:
        entry["error"] = error
    return entry


def error_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}".rstrip(": ")


class Rollout:
    """Routes each model call to production or the candidate, runs shadows, and logs decisions."""

    def __init__(self, settings: Settings, log: DecisionLog | None, log_text: bool):
        self.settings, self.log, self.log_text = settings, log, log_text
        self._shadows = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._pending = threading.BoundedSemaphore(settings.shadow_max_pending)

    def call(
        self,
        endpoint: str,
        request_id: str,
        key: str,
        production: Any,
        candidate: Any | None,
        run: Callable[[Any], Any],
        summary: Callable[[Any], dict[str, Any]],
        text: Any = None,
    ) -> tuple[Any, str, str]:
        """Answer with one side: (answer, "production" or "candidate", its version). Errors are logged, then raised."""
        mode = self.settings.mode if candidate is not None else "off"
        canary = mode == "canary" and to_candidate(key, self.settings.canary_percent)
        served_by, service = ("candidate", candidate) if canary else ("production", production)
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "endpoint": endpoint,
            "mode": mode,
            "served_by": served_by,
        }
        if self.log_text and text is not None:
            record["text"] = text
        started = time.perf_counter()
        try:
            answer = run(service)
        except Exception as err:
            record[served_by] = side_entry(service.version, started, None, error_line(err))
            self._write(record)
            raise
        record[served_by] = side_entry(service.version, started, summary(answer), None)
        if mode == "shadow":
            self._shadow(record, candidate, run, summary)
        else:
            self._write(record)
        return answer, served_by, service.version

    def _shadow(self, record: dict[str, Any], candidate: Any, run: Callable, summary: Callable) -> None:
        if not self._pending.acquire(blocking=False):
            record["candidate"] = {"version": candidate.version, "skipped": True}
            self._write(record)
            return

        def shadow() -> None:
            started = time.perf_counter()
            try:
                record["candidate"] = side_entry(candidate.version, started, summary(run(candidate)), None)
            except Exception as err:  # the candidate's failure is data for the decision, never the user's problem
                record["candidate"] = side_entry(candidate.version, started, None, error_line(err))
            finally:
                self._pending.release()
            self._write(record)

        self._shadows.submit(shadow)

    def _write(self, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.write(record)

    def close(self) -> None:
        """Finish the shadow calls in flight, then write the log's last lines. Once is enough."""
        self._shadows.shutdown(wait=True)
        if self.log is not None:
            self.log.close()
            self.log = None
