"""A small threaded HTTP/1.1 server on the standard library, shared by the sandbox's services.

Keep-alive and TCP_NODELAY matter: the trading bench measures sandbox round trips in milliseconds, and Nagle's algorithm
with delayed ACKs would add tens of them to every answer.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null", parse_float=Decimal)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0  # > 0: answer nothing, hold the connection that long, then close it

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(data, default=_json_default, separators=(",", ":")).encode()
        return cls(status=status, body=body, headers={"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def raw_json(cls, text: str, status: int = 200) -> Response:
        return cls(status=status, body=text.encode(), headers={"Content-Type": "application/json"})

    @classmethod
    def hang(cls, seconds: float) -> Response:
        return cls(status=0, hang_seconds=seconds)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


Handler = Callable[[Request], Response]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this long
    app: Handler

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Request(method=self.command, path=parts.path, query=query, headers=self.headers, body=body)
        try:
            response = self.app(request)
        except Exception as exc:  # the server must answer whatever a handler did
            response = Response.json({"error": f"internal error: {type(exc).__name__}: {exc}"}, status=500)
        if response.hang_seconds:
            time.sleep(response.hang_seconds)
            self.close_connection = True
            return
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts, faults): nothing to answer
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up mid-request are normal here (timeout faults); stay quiet about them."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, TimeoutError)):
            super().handle_error(request, client_address)


class HTTPService:
    """One listening socket served from a background thread."""

    def __init__(self, app: Handler, *, host: str = "127.0.0.1", port: int = 0, name: str = "sandbox"):
        handler = type(f"{name.title()}Handler", (_RequestHandler,), {"app": staticmethod(app)})
        self.server = _Server((host, port), handler)
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"sandbox-{name}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HTTPService:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
