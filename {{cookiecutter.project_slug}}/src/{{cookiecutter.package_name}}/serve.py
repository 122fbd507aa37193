"""The HTTP service: the promoted models and the knowledge-base index behind a FastAPI app.

Run it with ``python -m {{ cookiecutter.package_name }}.serve`` (``make serve``); the ASGI
app is ``{{ cookiecutter.package_name }}.serve:app``. At start-up (the app's lifespan)
it loads, once:

- the model set in ``MODEL_DIR`` (default ``models/production``), after checking
  its files against its manifest; the classifier and the encoder through the
  pipeline's own loaders (skops with the trusted-type checks);
- the index in ``INDEX_DIR`` (default ``data/index``), memory-mapped, refused
  when it was built with another encoder than the one of the model set.

Predictions are the classifier's own ``predict``/``predict_proba``; searches are
`VectorIndex.search_scored`, the ranking the `index` stage measures: nothing here
scores or ranks by itself. Until loading succeeds, ``/ready`` and the model
endpoints answer 503 with the reason.

Other settings: ``HOST``, ``PORT``, ``WORKERS`` (or ``--host``, ``--port``,
``--workers``), ``LOG_REQUEST_TEXT=true`` to log the text of requests (off: ticket
text is personal data), ``GIT_COMMIT`` (else ``git rev-parse HEAD`` when the
service runs in a git checkout). Request bounds: the ``serve`` section of
params.yaml (``PARAMS_FILE``). Every request is logged as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr
from threadpoolctl import threadpool_limits
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from .params import ServeParams, load_params
from .runner import StageError

if TYPE_CHECKING:
    from .encoders import Encoder
    from .vector_index import VectorIndex

# The model libraries are imported by `load_service`, not here: with --workers, every worker
# process first runs this module again, and must answer uvicorn's health check within 5 s.

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # an X-Request-ID we echo; anything else is replaced
LOG = logging.getLogger("{{ cookiecutter.package_name }}.serve")


def load_limits(path: str | os.PathLike) -> ServeParams:
    """The `serve` section of params.yaml, checked by its schema: bounds that keep one request from holding a worker."""
    try:
        section = load_params(path).get("serve")
    except StageError as err:  # params.yaml does not fit its schema: the message names the key
        raise SystemExit(f"serve: {err}") from None
    except OSError as err:
        raise SystemExit(f"serve: cannot read {path}: {err}") from None
    if section is None:
        raise SystemExit(f"serve: {path} has no `serve` section (max_text_length, max_batch_size, max_k)")
    return ServeParams(**section)


LIMITS = load_limits(os.environ.get("PARAMS_FILE", "params.yaml"))


def not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty or only whitespace")
    return text


Text = Annotated[StrictStr, Field(min_length=1, max_length=LIMITS.max_text_length), AfterValidator(not_blank)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "I was charged twice for my subscription"}]})
    text: Text


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"texts": ["I was charged twice", "The parcel never arrived"]}]}
    )
    texts: list[Text] = Field(min_length=1, max_length=LIMITS.max_batch_size)


class SearchRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"query": "how do I reset my password", "k": 5}]})
    query: Text
    k: Annotated[int, Field(strict=True, ge=1, le=LIMITS.max_k)] = 5


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class PredictResponse(Prediction):
    model_version: str


class BatchResponse(BaseModel):
    predictions: list[Prediction]
    model_version: str


class SearchResult(BaseModel):
    id: str
    title: str
    score: float = Field(description="Cosine similarity (dense index) or blended z-score (hybrid index)")


class SearchResponse(BaseModel):
    results: list[SearchResult]
    answer: bool = Field(description='false: "no answer", the best score is below the index\'s abstain_below')
    model_version: str


@dataclass
class Service:
    """What the service answers with, loaded once."""

    manifest: dict[str, Any]
    classifier: Any
    encoder: Encoder
    index: VectorIndex
    titles: list[str]
    git_commit: str | None
    abstain_below: float = 0.0  # index.abstain_below when the index was built: "no answer" below it

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        texts = list(texts)
        labels = self.classifier.predict(texts)
        probabilities = self.classifier.predict_proba(texts)
        classes = [str(c) for c in self.classifier.classes_]
        return [
            {"label": str(label), "probabilities": {c: round(float(p), 6) for c, p in zip(classes, row, strict=True)}}
            for label, row in zip(labels, probabilities, strict=True)
        ]

    def search(self, query: str, k: int) -> list[dict[str, Any]]:
        """The `k` best articles, or none when the best score is below `abstain_below` ("no answer")."""
        from .retrieval import answered

        encoder = self.encoder
        rows, scores = self.index.search_scored(
            encoder.encode([query]), k, encoder.query_terms([query]), encoder.dense_weight
        )
        if len(scores[0]) and not answered(scores[0][:1], self.abstain_below)[0]:
            return []  # the rule the index stage measures: below the threshold, no answer
        return [
            {"id": self.index.ids[row], "title": self.titles[row], "score": round(float(score), 6)}
            for row, score in zip(rows[0], scores[0], strict=True)
            if row >= 0  # an approximate index may find fewer than k
        ]


def load_service(model_dir: str | os.PathLike, index_dir: str | os.PathLike) -> Service:
    """Load and check the model set and the index; raise with a one-line reason when they cannot serve."""
    from .encoders import Encoder
    from .io import read_json
    from .models import load_model
    from .modelset import ModelSetError, part_version, verify
    from .stages.index import SOURCE_FILE, TITLES_FILE
    from .vector_index import VectorIndex

    model_dir, index_dir = Path(model_dir), Path(index_dir)
    manifest = verify(model_dir)
    classifier = load_model(model_dir / "classifier.skops")  # refuses a pickle or an untrusted type in one line
    encoder = Encoder(model_dir / "encoder")
    if not (index_dir / SOURCE_FILE).is_file():
        raise ModelSetError(f"{index_dir / SOURCE_FILE} not found: {index_dir} is not a built index (run dvc repro)")
    if read_json(index_dir / SOURCE_FILE).get("encoder") != part_version(manifest["files"], "encoder"):
        raise ModelSetError(f"{index_dir}: index built with another encoder than {model_dir}'s: run dvc repro")
    index = VectorIndex.load(index_dir)
    titles = read_json(index_dir / TITLES_FILE)
    if len(titles) != len(index.ids):
        raise ModelSetError(f"{index_dir / TITLES_FILE} does not match the index: run dvc repro")
    abstain_below = float(read_json(index_dir / SOURCE_FILE).get("abstain_below", 0.0))
    return Service(manifest, classifier, encoder, index, titles, git_commit(), abstain_below)


def served_dirs() -> tuple[str, str]:
    return os.environ.get("MODEL_DIR", "models/production"), os.environ.get("INDEX_DIR", "data/index")


def git_commit() -> str | None:
    """GIT_COMMIT (set in the image), else the checkout's HEAD, else None."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (found.stdout.strip() or None) if found.returncode == 0 else None


def one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


class State:
    """The loaded service, or why there is none."""

    service: Service | None = None
    reason: str = "starting: the models are not loaded yet"


STATE = State()


@asynccontextmanager
async def lifespan(app: FastAPI):
    if not LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        LOG.propagate = False
    threadpool_limits(limits=1)  # one BLAS thread per process: workers, not threads, use the cores
    try:
        STATE.service, STATE.reason = load_service(*served_dirs()), ""
    except Exception as err:  # any failure keeps the process up and /ready at 503, with the reason
        STATE.service, STATE.reason = None, one_line(err)
    log_event("startup", ready=STATE.service is not None, reason=STATE.reason or None)
    yield
    log_event("shutdown")


def log_event(event: str, **fields: Any) -> None:
    LOG.info(json.dumps({"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}))


app = FastAPI(
    title="Support Triage",
    description="Ticket triage and knowledge-base search with the promoted models of the DVC pipeline.",
    lifespan=lifespan,
)


def ready_service() -> Service:
    if STATE.service is None:
        raise HTTPException(status_code=503, detail=f"not ready: {STATE.reason}")
    return STATE.service


class RequestLog:
    """ASGI middleware: one JSON log line per request; the request id (X-Request-ID or a new one) is echoed.

    Plain ASGI rather than `@app.middleware("http")`, which streams every response
    through an extra task: this adds next to nothing to a request.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        if not REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})  # request.state: endpoints leave the text there when it is logged
        start, status, error = time.perf_counter(), None, None

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as err:  # the log says what failed; the client gets no traceback
            error = f"{type(err).__name__}: {one_line(err)}"
            if status is not None:
                raise
            answer = JSONResponse(status_code=500, content={"detail": f"internal error (request id {request_id})"})
            await answer(scope, receive, send_with_id)
        line = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "latency_ms": round((time.perf_counter() - start) * 1000, 3),
            "model_version": STATE.service.version if STATE.service else None,
            "request_id": request_id,
        }
        if error:
            line["error"] = error
        if state.get("text") is not None:
            line["text"] = state["text"]
        log_event("request", **line)


app.add_middleware(RequestLog)


@app.exception_handler(RequestValidationError)
async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A short message naming the first problem (malformed JSON: 400; else 422), never the input itself."""
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return JSONResponse(status_code=400, content={"detail": "the request body is not valid JSON"})
    where = ".".join(str(part) for part in first["loc"] if part != "body")
    if not where and first["type"] in ("dict_type", "model_attributes_type"):
        return JSONResponse(status_code=422, content={"detail": "the request body must be a JSON object"})
    return JSONResponse(status_code=422, content={"detail": f"{where or 'request body'}: {first['msg']}"})


def remember_text(request: Request, text: str | list[str]) -> None:
    if os.environ.get("LOG_REQUEST_TEXT", "").lower() in ("1", "true", "yes"):
        request.state.text = text


@app.get("/health")
def health() -> dict[str, str]:
    """The process is up (whether or not the models loaded)."""
    return {"status": "ok"}


@app.get("/ready", responses={503: {"description": "Not ready, with the reason"}})
def ready() -> JSONResponse:
    """200 once the models and the index are loaded; 503 with the reason before or when loading failed."""
    if STATE.service is None:
        return JSONResponse(status_code=503, content={"status": "not ready", "reason": STATE.reason})
    return JSONResponse({"status": "ready", "model_version": STATE.service.version})


@app.get("/version")
def version() -> dict[str, Any]:
    """The model set (version and SHA-256 of each file), the git commit when known, the index."""
    service = ready_service()
    return {
        "model_version": service.version,
        "files": service.manifest["files"],
        "git_commit": service.git_commit,
        "encoder_backend": service.encoder.backend,
        "index": {"backend": service.index.backend, "size": len(service.index.ids), "hybrid": service.index.hybrid},
    }


@app.post("/predict", response_model=PredictResponse)
def predict(body: PredictRequest, request: Request) -> dict[str, Any]:
    """The promoted classifier's label and class probabilities for one ticket."""
    service = ready_service()
    remember_text(request, body.text)
    return {**service.predict([body.text])[0], "model_version": service.version}


@app.post("/predict/batch", response_model=BatchResponse)
def predict_batch(body: BatchRequest, request: Request) -> dict[str, Any]:
    """`/predict` for up to `serve.max_batch_size` tickets at once, in order."""
    service = ready_service()
    remember_text(request, body.texts)
    return {"predictions": service.predict(body.texts), "model_version": service.version}


@app.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, request: Request) -> dict[str, Any]:
    """The `k` best knowledge-base articles for a query, ranked as the `index` stage ranks them."""
    service = ready_service()
    remember_text(request, body.query)
    results = service.search(body.query, body.k)
    return {"results": results, "answer": bool(results), "model_version": service.version}


class NoDelayHTTP(AutoHTTPProtocol):
    """uvicorn's HTTP protocol with TCP_NODELAY on every connection.

    With --workers, uvicorn binds the listening socket itself and asyncio then
    leaves Nagle's algorithm on: each answer waited ~40 ms for the client's
    delayed ACK (measured: 46 ms for /health with 2 workers, 1 ms with 1).
    """

    def connection_made(self, transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.serve", description="Serve the promoted models over HTTP."
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="default: HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="default: PORT or 8000")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WORKERS", "1")), help="processes; default: WORKERS or 1"
    )
    parser.add_argument(
        "--check", action="store_true", help="load the models and the index, print one line and exit (1: cannot serve)"
    )
    args = parser.parse_args(argv)
    if args.check:
        try:
            service = load_service(*served_dirs())
        except Exception as err:
            print(f"serve: not ready: {one_line(err)}", file=sys.stderr)
            return 1
        print(f"serve: ready: model set {service.version}, {len(service.index.ids)} articles ({service.index.backend})")
        return 0
    # uvicorn stops on SIGTERM/SIGINT after the requests in flight are answered
    uvicorn.run(
        "{{ cookiecutter.package_name }}.serve:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=NoDelayHTTP,
        access_log=False,  # the app logs every request as JSON
        log_level="info",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
