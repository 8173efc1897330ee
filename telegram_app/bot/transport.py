"""The bot's Bot API transport: python-telegram-bot's request layer with a lean HTTP/1.1 client underneath.

python-telegram-bot still builds every request and turns every answer into its errors (BadRequest, RetryAfter,
Forbidden...); only the bytes on the wire go another way. Under a busy bot the HTTPX stack (httpx, httpcore,
anyio, h11) spent more CPU per reply than building the reply: a POST of a small form on a kept-alive connection
and reading back a short JSON body needs none of it. What the lean client does not cover goes through
HTTPX as before: uploads (multipart), a proxy set in the environment, anything but a POST.

Both ways share one cap of ``connection_pool_size`` requests in flight (a semaphore): httpcore's pool re-examines
every waiting request against every connection each time one starts or ends, so with a few hundred replies
waiting for 8 connections queueing there cost more CPU than sending. The pool timeout bounds the wait for a
slot, as httpcore bounded it.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from urllib.parse import urlencode, urlsplit

import certifi
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest

from monitoring import metrics

_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_DEFAULT = BaseRequest.DEFAULT_NONE


def _proxy_configured() -> bool:
    return any(os.environ.get(name) for name in _PROXY_VARS)


def _tls_context() -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def usable(self) -> bool:
        """False once the server closed it while it was idle (the loop has seen the EOF)."""
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class BotApiRequest(HTTPXRequest):
    """See the module docstring. Timeouts: connect as given; writing the request and reading the whole answer
    together within write + read timeout."""

    def __init__(self, *, connection_pool_size: int, pool_timeout: float, connect_timeout: float = 5.0,
                 read_timeout: float = 5.0, write_timeout: float = 5.0, tls_context: ssl.SSLContext | None = None,
                 **kwargs):
        super().__init__(connection_pool_size=connection_pool_size, pool_timeout=pool_timeout,
                         connect_timeout=connect_timeout, read_timeout=read_timeout, write_timeout=write_timeout, **kwargs)
        self._gate = asyncio.Semaphore(connection_pool_size)
        self._timeouts = {"pool": pool_timeout, "connect": connect_timeout, "read": read_timeout, "write": write_timeout}
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._tls = tls_context  # None: certifi's CA bundle, as HTTPX verifies
        self.lean = not _proxy_configured()

    def _timeout(self, name: str, given) -> float | None:
        return self._timeouts[name] if given is _DEFAULT else given

    async def do_request(self, url, method, request_data=None, read_timeout=_DEFAULT, write_timeout=_DEFAULT,
                         connect_timeout=_DEFAULT, pool_timeout=_DEFAULT):
        if self._gate.locked():
            try:
                await asyncio.wait_for(self._gate.acquire(), self._timeout("pool", pool_timeout))
            except TimeoutError:
                raise TimedOut("Pool timeout: every Bot API connection stayed busy; the request was not sent.") from None
        else:
            await self._gate.acquire()
        started, outcome = time.perf_counter(), "error"
        try:
            status, content = await self._request(url, method, request_data, read_timeout=read_timeout,
                                                  write_timeout=write_timeout, connect_timeout=connect_timeout,
                                                  pool_timeout=pool_timeout)
            outcome = "ok" if status == 200 else "error"
            return status, content
        finally:
            self._gate.release()
            # the Bot API method is the URL's last segment (the token, before it, is never recorded)
            metrics.provider_observe(provider="telegram", operation=str(url).rsplit("/", 1)[-1], outcome=outcome,
                                     seconds=time.perf_counter() - started)

    async def _request(self, url, method, request_data, *, read_timeout, write_timeout, connect_timeout, pool_timeout):
        if not self.lean or method != "POST" or (request_data is not None and request_data.contains_files):
            return await super().do_request(url, method, request_data, read_timeout=read_timeout,
                                            write_timeout=write_timeout, connect_timeout=connect_timeout,
                                            pool_timeout=pool_timeout)
        body = urlencode(request_data.json_parameters).encode() if request_data is not None else b""
        budget = (self._timeout("write", write_timeout) or 0) + (self._timeout("read", read_timeout) or 0)
        return await self._post(url, body, connect_timeout=self._timeout("connect", connect_timeout),
                                budget=budget or None)

    async def _connect(self, scheme: str, host: str, port: int, timeout: float | None) -> _Connection:
        tls = None
        if scheme == "https":
            tls = self._tls = self._tls or _tls_context()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None,
                                                               limit=2 ** 20)
        except TimeoutError:
            raise TimedOut("Timed out connecting to the Bot API") from None
        except OSError as exc:
            raise NetworkError(f"connecting to the Bot API failed: {type(exc).__name__}: {exc}") from None
        return _Connection(reader, writer)

    async def _post(self, url: str, body: bytes, *, connect_timeout: float | None, budget: float | None) -> tuple[int, bytes]:
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        idle = self._idle.setdefault(key, [])
        conn = None
        while idle:
            candidate = idle.pop()
            if candidate.usable():
                conn = candidate
                break
            candidate.close()
        if conn is None:
            conn = await self._connect(scheme, host, port, connect_timeout)
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        head = (f"POST {target} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: {self.USER_AGENT}\r\n"
                "Accept: */*\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        keep = False
        try:
            async with asyncio.timeout(budget):
                conn.writer.write(head + body)
                await conn.writer.drain()
                status, content, keep = await _read_response(conn.reader)
        except TimeoutError:
            raise TimedOut("Timed out waiting for the Bot API's answer") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise NetworkError(f"Bot API connection failed: {type(exc).__name__}: {exc}") from None
        finally:
            if keep:
                idle.append(conn)
            else:
                conn.close()
        return status, content

    async def shutdown(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        await super().shutdown()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection may be reused) of one HTTP/1.1 answer."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    version, code, *_ = lines[0].split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x answer: {lines[0][:40]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return int(code), b"".join(chunks), keep
    if "content-length" in headers:
        return int(code), await reader.readexactly(int(headers["content-length"])), keep
    return int(code), await reader.read(), False  # delimited by the end of the connection
