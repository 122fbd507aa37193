"""A real git smart-HTTP server on 127.0.0.1 that asks for HTTP basic auth, as GitHub and GitLab do.

`git http-backend` (the CGI program that ships with git) serves the repositories
under a folder; a small WSGI wrapper runs it per request, after checking the
`Authorization` header against one user and token. Stopped at teardown.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server


@dataclass
class GitHttpServer:
    url: str  # http://127.0.0.1:<port>
    authorized: list[bool] = field(default_factory=list)  # one entry per request: did it carry the token?


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # no access log on the test's stderr
        pass


def _dechunk(stream) -> bytes:
    """A request body sent with `Transfer-Encoding: chunked` (dulwich streams packs that way)."""
    body = b""
    while size := int(stream.readline().split(b";")[0].strip() or b"0", 16):
        body += stream.read(size)
        stream.readline()
    stream.readline()
    return body


@contextmanager
def git_http_server(root: Path, user: str, token: str) -> Iterator[GitHttpServer]:
    """Serve the bare repositories under `root` (fetch and push) to requests authenticated as `user`:`token`."""
    expected = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
    server_state = GitHttpServer("")

    def app(environ, start_response):
        allowed = environ.get("HTTP_AUTHORIZATION") == expected
        server_state.authorized.append(allowed)
        if not allowed:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"unauthorized\n"]
        chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        body = (
            _dechunk(environ["wsgi.input"])
            if chunked
            else environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        )
        cgi = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": environ["PATH_INFO"],
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": environ.get("HTTP_CONTENT_ENCODING", ""),
            "REMOTE_USER": user,  # an authenticated user may push (receive-pack)
            "REMOTE_ADDR": "127.0.0.1",
        }
        answer = subprocess.run(["git", "http-backend"], input=body, env=cgi, capture_output=True, timeout=60).stdout
        head, _, payload = answer.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = value
            elif name:
                headers.append((name, value))
        start_response(status, headers)
        return [payload]

    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    server_state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
