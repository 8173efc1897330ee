"""The stand-in Bot API server: ``/bot<token>/<method>`` over HTTP, as python-telegram-bot calls it.

Implements getMe, getUpdates (long polling; a second consumer gets 409 Conflict, as does polling while
a webhook is set), sendMessage, sendPhoto (multipart upload), editMessageText, editMessageReplyMarkup, answerCallbackQuery,
deleteMessage, sendChatAction, setWebhook, deleteWebhook, getWebhookInfo, setMyCommands,
getMyCommands, deleteMyCommands, close and logOut; the flood limits live in ``state.FloodLimits``.
Tests and tools drive the user side in process (``send_text``, ``press``, ``bot_messages``) or over
HTTP under ``/_control/`` (used by `manage.py telegram_standin` and the benchmark).
"""

from __future__ import annotations

import json
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from sandbox.telegram.methods import METHODS, Upload
from sandbox.telegram.state import ApiError, FloodLimits, World


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client went away (cancelled long poll, stopped bot): nothing to report
        super().handle_error(request, client_address)


class BotApiStandin:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, flood: FloodLimits | None = None, token: str | None = None):
        self.world = World(flood=flood)
        self.token = token  # None accepts any token
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = _Server((host, port), handler)
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BotApiStandin":
        self._thread = threading.Thread(target=self._server.serve_forever, name="bot-api-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.world.lock:
            self.world.changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    # --- the user side -------------------------------------------------------------------------------
    def send_text(self, user_id: int, text: str, *, chat_id: int | None = None, chat_type: str = "private") -> dict:
        """A user writes ``text`` (a command if it starts with '/'); returns the update."""
        fields: dict = {"text": text}
        if text.startswith("/"):
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._user_message(user_id, chat_id, chat_type, fields)

    def send_photo(self, user_id: int, caption: str, *, chat_id: int | None = None, chat_type: str = "private") -> dict:
        """A user sends a photo with ``caption`` (Bot API Message: ``photo`` sizes and ``caption``, no ``text``)."""
        photo = [{"file_id": "standin-photo", "file_unique_id": "standin-photo", "width": 90, "height": 90}]
        return self._user_message(user_id, chat_id, chat_type, {"photo": photo, "caption": caption})

    def edit_text(self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None,
                  chat_type: str = "private") -> dict:
        """A user edits their message ``message_id`` to ``text``: an ``edited_message`` update (with ``edit_date``)."""
        w = self.world
        chat_id = user_id if chat_id is None else chat_id
        with w.lock:
            old = w.messages[(chat_id, message_id)]
            message = {k: v for k, v in old.items() if not k.startswith("_")}
            message.update(text=text, edit_date=int(time.time()), chat=w.chat(chat_id, user_id, chat_type))
            w.messages[(chat_id, message_id)] = dict(message, _from_bot=False)
            return w.push_update({"edited_message": message}, chat_id=chat_id, user_message_id=message_id)

    def _user_message(self, user_id: int, chat_id: int | None, chat_type: str, fields: dict) -> dict:
        w = self.world
        chat_id = user_id if chat_id is None else chat_id
        with w.lock:
            mid = w.new_message_id(chat_id)
            message = {"message_id": mid, "date": int(time.time()), "chat": w.chat(chat_id, user_id, chat_type),
                       "from": w.user(user_id), **fields}
            w.messages[(chat_id, mid)] = dict(message, _from_bot=False)
            w.user_messages[(chat_id, mid)] = {"at": time.monotonic()}
            return w.push_update({"message": message}, chat_id=chat_id, user_message_id=mid)

    def press(self, user_id: int, chat_id: int, message_id: int, data: str) -> dict:
        """A user taps an inline button carrying ``data`` under the bot's message ``message_id``."""
        w = self.world
        with w.lock:
            msg = w.messages.get((chat_id, message_id))
            if msg is None:
                raise KeyError(f"no message {message_id} in chat {chat_id}")
            qid = str(w.next_callback)
            w.next_callback += 1
            query = {
                "id": qid,
                "from": w.user(user_id),
                "chat_instance": str(chat_id),
                "data": data,
                "message": {k: v for k, v in msg.items() if not k.startswith("_")},
            }
            update = w.push_update({"callback_query": query}, chat_id=chat_id, user_message_id=None)
            w.callback_queries[qid] = {"update_id": update["update_id"], "answered": None, "chat_id": chat_id}
            return update

    def add_chat(self, chat_id: int) -> None:
        """A chat the bot may write to (its user started the bot earlier)."""
        with self.world.lock:
            self.world.next_message_id[chat_id] += 0

    def block(self, user_id: int) -> None:
        with self.world.lock:
            self.world.blocked_by.add(user_id)

    def bot_messages(self, chat_id: int) -> list[dict]:
        """The bot's messages still present in ``chat_id`` (deleted ones are gone), oldest first."""
        with self.world.lock:
            return [
                {k: v for k, v in m.items() if not k.startswith("_")}
                for (c, _), m in sorted(self.world.messages.items())
                if c == chat_id and m["_from_bot"]
            ]

    def photo(self, file_id: str) -> bytes | None:
        """The bytes of a photo the bot sent (its file_id is in the sendPhoto log entry and the message)."""
        with self.world.lock:
            return self.world.files.get(file_id)

    def message(self, chat_id: int, message_id: int) -> dict | None:
        with self.world.lock:
            return self.world.messages.get((chat_id, message_id))

    def log(self, chat_id: int | None = None, method: str | None = None) -> list[dict]:
        with self.world.lock:
            return [e for e in self.world.bot_log if (chat_id is None or e.get("chat_id") == chat_id)
                    and (method is None or e["method"] == method)]

    def callback_answer(self, update_id: int) -> dict | None:
        with self.world.lock:
            for info in self.world.callback_queries.values():
                if info["update_id"] == update_id:
                    return info["answered"]
        return None

    def stats(self) -> dict:
        w = self.world
        with w.lock:
            latencies = [w.answered[u] - w.delivered[u] for u in w.answered if u in w.delivered]
            return {"calls": dict(w.calls), "flood_429s": w.flood.refused,
                    "flood_429s_unsolicited": w.flood.refused_unsolicited,
                    "flood_429s_by_method": dict(w.flood.refused_by_method), "pending_updates": len(w.updates),
                    "answered": len(latencies), "webhook": dict(w.webhook)}

    def latencies(self) -> dict[int, float]:
        """update_id -> seconds from delivery to the bot's first answer."""
        w = self.world
        with w.lock:
            return {u: w.answered[u] - w.delivered[u] for u in w.answered if u in w.delivered}

    # --- dispatch ---------------------------------------------------------------------------------
    def call(self, method: str, params: dict, *, token: str, conn) -> dict:
        if self.token is not None and token != self.token:
            raise ApiError(401, "Unauthorized")
        impl = METHODS.get(method.lower())
        if impl is None:
            raise ApiError(404, "Not Found: method not found")
        with self.world.lock:
            self.world.calls[method] += 1
        return impl(self.world, params, conn=conn)


def _multipart(body: bytes, content_type: str) -> dict:
    """multipart/form-data fields: a file part (one with a filename) as an Upload, any other as text."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise ApiError(400, "Bad Request: can't parse the multipart request")
    fields: dict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        fields[name] = Upload(filename, data) if filename is not None else data.decode()
    return fields


def _decode_params(body: bytes, content_type: str, query: str) -> dict:
    params: dict = dict(parse_qsl(query))
    if body:
        if content_type.startswith("application/json"):
            params.update(json.loads(body))
        elif content_type.startswith("multipart/form-data"):
            params.update(_multipart(body, content_type))
        else:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
    for key, value in list(params.items()):
        if isinstance(value, str) and value[:1] in "{[":
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An answer goes out as two writes (headers, then body). With Nagle's algorithm the body waited for the
    # client's delayed ACK of the headers, ~40 ms on every keep-alive response; Telegram's servers answer at once.
    disable_nagle_algorithm = True
    standin: BotApiStandin

    def log_message(self, fmt, *args):  # the bot token is in every path: never log request lines
        return

    def _answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a cancelled long poll)
            self.close_connection = True

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            params = _decode_params(body, self.headers.get("Content-Type", ""), url.query)
            if url.path.startswith("/_control/"):
                from sandbox.telegram.control import control

                self._answer(200, control(self.standin, url.path[len("/_control/"):], params))
                return
            head, _, method = url.path.lstrip("/").partition("/")
            if not head.startswith("bot") or not method:
                raise ApiError(404, "Not Found")
            result = self.standin.call(method, params, token=head[3:], conn=self)
            self._answer(200, {"ok": True, "result": result})
        except ApiError as exc:
            payload = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.retry_after is not None:
                payload["parameters"] = {"retry_after": exc.retry_after}
            self._answer(exc.code, payload)

    do_GET = _handle
    do_POST = _handle
