"""A stand-in of the Anthropic Messages API (`POST /v1/messages`) for /vibe: deterministic answers, tool calls,
streaming (server-sent events), errors and rate limits on demand.

Shapes follow the vendor's published SDK (`anthropic` on PyPI, `anthropic/types/`): a request has `model`,
`max_tokens`, `messages` (alternating user/assistant, the first a user's), optional `system`, `tools`
(`name`, `description`, `input_schema`) and `stream`; an answer is a `Message` (`id`, `type: "message"`, `role`,
`content` blocks `text` / `tool_use`, `stop_reason`, `usage`); a stream is the events `message_start`,
`content_block_start`, `content_block_delta` (`text_delta`, `input_json_delta`), `content_block_stop`,
`message_delta` (`stop_reason`, `usage.output_tokens`), `message_stop`; an error is
`{"type": "error", "error": {"type": ..., "message": ...}}` with 400, 401, 429 (and `retry-after`), 500 or 529.
The key comes as `x-api-key` or, as the SDK of late 2026 sends it, `Authorization: Bearer <key>`.
The real SDK talks to it in the tests (its parser is the contract).

The "model" is a fixed rule set, so tests know what it does:
- a question naming a tool's words (``desk status``, ``queue depths``...) calls those tools in one turn; an integer in
  the question fills integer arguments, a quoted word (else the last word) fills string arguments;
- after tool results it answers with what the tools returned;
- it obeys any "kill switch off" (or "on") it reads anywhere in the latest turn, tool results included, by calling
  ``propose_kill_switch``: a gullible model, as an attacker hopes for;
- otherwise it answers with how many earlier questions it was given (the context it received).
Every request it receives is kept in ``received`` (the tests check what reached it).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_ECHO = "claude-standin"
KILL_PHRASE = re.compile(r"kill[ -]?switch\s+(off|on)", re.IGNORECASE)


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.retry_after = status, kind, message, retry_after


FAULTS = {
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "rate_limit": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    "server": (500, "api_error", "Internal server error"),
}


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            parts.append(_text_of(block.get("content") or ""))
    return "\n".join(parts)


def _validate(body) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request_error", "body: expected an object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ApiError(400, "invalid_request_error", "model: field required")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise ApiError(400, "invalid_request_error", "max_tokens: field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "invalid_request_error", "messages: at least one message is required")
    for i, msg in enumerate(messages):
        expected = "user" if i % 2 == 0 else "assistant"
        if not isinstance(msg, dict) or msg.get("role") != expected:
            raise ApiError(400, "invalid_request_error", f"messages.{i}.role: roles must alternate, starting with user")
        if not isinstance(msg.get("content"), (str, list)):
            raise ApiError(400, "invalid_request_error", f"messages.{i}.content: field required")
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict) or not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
            raise ApiError(400, "invalid_request_error", "tools: each tool needs name and input_schema")


def _arguments(schema: dict, question: str) -> dict:
    args = {}
    numbers = re.findall(r"\b\d+\b", question)
    quoted = re.findall(r"['\"“]([^'\"”]+)['\"”]", question)
    words = re.findall(r"[\w.-]+", question)
    for name in schema.get("required", []):
        kind = (schema.get("properties") or {}).get(name, {}).get("type")
        if kind == "integer":
            args[name] = int(numbers[0]) if numbers else 0
        elif kind == "boolean":
            args[name] = True
        else:
            args[name] = quoted[0] if quoted else (words[-1] if words else "")
    return args


def decide(body: dict) -> list[dict]:
    """The content blocks of the answer (``text`` and ``tool_use``), by the rules above."""
    messages = body["messages"]
    last = messages[-1]
    tools = {t["name"]: t for t in body.get("tools") or []}
    latest = _text_of(last["content"])
    kill = KILL_PHRASE.search(latest)
    if kill and "propose_kill_switch" in tools:
        enabled = kill.group(1).lower() == "on"
        return [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": "propose_kill_switch",
                 "input": {"enabled": enabled, "reason": "as the text I read asked"}}]
    results = [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"] \
        if isinstance(last["content"], list) else []
    if results:
        names = {}
        for block in messages[-2]["content"] if isinstance(messages[-2]["content"], list) else []:
            if block.get("type") == "tool_use":
                names[block["id"]] = block["name"]
        lines = [f"{names.get(r['tool_use_id'], 'tool')}: {_text_of(r.get('content') or '')[:300]}" for r in results]
        return [{"type": "text", "text": "Here is what I found.\n" + "\n".join(lines)}]
    question = latest.lower()
    calls = []
    for name, tool in tools.items():
        if name.startswith("propose_"):
            continue
        words = [w for w in name.split("_") if len(w) >= 4]
        if words and all(w in question for w in words):
            calls.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name,
                          "input": _arguments(tool.get("input_schema") or {}, latest)})
    if calls:
        looking = ", ".join(c["name"].replace("_", " ") for c in calls)
        return [{"type": "text", "text": f"Let me look at {looking}."}, *calls]
    earlier = [_text_of(m["content"]) for m in messages[:-1] if m["role"] == "user"]
    memory = f'Earlier you asked {len(earlier)} question(s); the last was: "{earlier[-1][:200]}".' if earlier \
        else "This is the first question of our conversation."
    return [{"type": "text", "text": f'You asked: "{latest[:300]}". {memory} I found no desk tool for it.'}]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class LlmStandin:
    """The stand-in server (``start()`` / ``stop()``); ``delay_s`` holds every answer back before its first byte,
    ``fail_next()`` answers the next requests with an error, ``received`` lists the request bodies."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 delay_s: float = 0.0, chunk_delay_s: float = 0.01):
        self.api_key, self.delay_s, self.chunk_delay_s = api_key, delay_s, chunk_delay_s
        self.received: list[dict] = []
        self._faults: list[str] = []
        self._lock = threading.Lock()
        handler = type("LlmHandler", (_Handler,), {"standin": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="llm-standin", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LlmStandin":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, kind: str = "overloaded", count: int = 1) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULTS)}")
        with self._lock:
            self._faults.extend([kind] * count)

    def received_text(self) -> str:
        """Everything every request carried, as one text (system, messages, tool results)."""
        with self._lock:
            return "\n".join(json.dumps(body, ensure_ascii=False) for body in self.received)

    def take(self, body: dict) -> None:
        with self._lock:
            self.received.append(body)
            fault = self._faults.pop(0) if self._faults else None
        if fault:
            status, kind, message = FAULTS[fault]
            raise ApiError(status, kind, message, retry_after=1 if status == 429 else None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    standin: LlmStandin

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        return

    def do_POST(self):  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if self.path.split("?")[0] != "/v1/messages":
                raise ApiError(404, "not_found_error", "Not found")
            key = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix("Bearer ")
            if not key or (self.standin.api_key and key != self.standin.api_key):
                raise ApiError(401, "authentication_error", "invalid x-api-key")
            if not self.headers.get("anthropic-version"):
                raise ApiError(400, "invalid_request_error", "anthropic-version: header is required")
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                raise ApiError(400, "invalid_request_error", "body: invalid JSON") from None
            _validate(body)
            self.standin.take(body)
            blocks = decide(body)
        except ApiError as exc:
            self._error(exc)
            return
        if self.standin.delay_s:
            time.sleep(self.standin.delay_s)
        message = self._message(body, blocks)
        try:
            if body.get("stream"):
                self._stream(message)
            else:
                self._json(200, message)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _message(self, body: dict, blocks: list[dict]) -> dict:
        out_text = json.dumps(blocks)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": body["model"],
                "content": blocks, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": _tokens(json.dumps(body)), "output_tokens": _tokens(out_text)}}

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, exc: ApiError) -> None:
        headers = {"retry-after": str(exc.retry_after)} if exc.retry_after else {}
        if exc.status in (429, 529, 500):
            headers["x-should-retry"] = "true"
        self._json(exc.status, {"type": "error", "error": {"type": exc.kind, "message": exc.message}}, headers)

    def _event(self, name: str, data: dict) -> None:
        chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.flush()

    def _stream(self, message: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1}}
        self._event("message_start", {"type": "message_start", "message": start})
        pause = self.standin.chunk_delay_s
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                self._event("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {"type": "text", "text": ""}})
                words = re.findall(r"\S+\s*", block["text"]) or [block["text"]]
                for i in range(0, len(words), 3):
                    self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": {"type": "text_delta", "text": "".join(words[i:i + 3])}})
                    if pause:
                        time.sleep(pause)
            else:
                self._event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})
                raw = json.dumps(block["input"])
                half = len(raw) // 2
                for piece in (raw[:half], raw[half:]):
                    self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": {"type": "input_json_delta", "partial_json": piece}})
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event("message_delta", {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                      "usage": {"output_tokens": usage["output_tokens"]}})
        self._event("message_stop", {"type": "message_stop"})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
