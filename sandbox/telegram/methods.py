"""Bot API methods of the stand-in. Each takes the World and the decoded parameters, returns ``result``."""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from sandbox.telegram.state import ApiError, World

MAX_POLL_S = 50.0

# What Telegram's flood limits count (state.FloodLimits): every method that puts a message in a chat or changes one.
COUNTED_METHODS = frozenset({"sendMessage", "sendPhoto", "editMessageText", "editMessageReplyMarkup"})
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # sendPhoto: "The photo must be at most 10 MB in size."
PHOTO_MAX_SIDES = 10_000  # "The photo's width and height must not exceed 10000 in total."
PHOTO_MAX_RATIO = 20  # "Width and height ratio must be at most 20."
CAPTION_MAX = 1024  # "Photo caption ..., 0-1024 characters after entities parsing"


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart/form-data request (an InputFile)."""

    filename: str
    data: bytes


def _count(w: World, method: str, chat_id: int, now: float, *, notification: bool = False) -> None:
    """One counted message of ``method`` to ``chat_id``, or the 429 the flood limits answer (called under w.lock)."""
    assert method in COUNTED_METHODS
    try:
        w.flood.check(chat_id, now)
    except ApiError:
        w.flood.refused_unsolicited += notification
        w.flood.refused_by_method[method] += 1
        raise


def _chat_id(params: dict) -> int:
    try:
        return int(params["chat_id"])
    except (KeyError, TypeError, ValueError):
        raise ApiError(400, "Bad Request: chat_id is empty")


def _known_chat(w: World, chat_id: int) -> None:
    if chat_id in w.deactivated:
        raise ApiError(403, "Forbidden: user is deactivated")
    if chat_id in w.blocked_by:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    if chat_id not in w.next_message_id:
        raise ApiError(400, "Bad Request: chat not found")


def _markup(params: dict) -> dict | None:
    markup = params.get("reply_markup")
    if not markup:
        return None
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not (1 <= len(str(data).encode()) <= 64):
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _text(params: dict) -> str:
    text = str(params.get("text") or "")
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > 4096:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def _public(msg: dict) -> dict:
    return {k: v for k, v in msg.items() if not k.startswith("_")}


def get_me(w: World, params: dict, conn=None) -> dict:
    return _public(w.bot)


def get_updates(w: World, params: dict, conn=None) -> list:
    offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
    limit = max(1, min(100, int(params.get("limit") or 100)))
    timeout = min(MAX_POLL_S, float(params.get("timeout") or 0))
    me = object()
    deadline = time.monotonic() + timeout
    allowed = params.get("allowed_updates")
    with w.lock:
        if isinstance(allowed, list):  # "If not specified, the previous setting will be used" (Bot API getUpdates)
            w.allowed_updates = [str(kind) for kind in allowed]
        if w.webhook["url"]:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
        if w.poller is not None:
            w.changed.notify_all()  # the call in flight is terminated by this one
        w.poller = me
        try:
            while True:
                taken = w.take_updates(offset, limit)
                if taken:
                    return taken
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                w.changed.wait(remaining)
                if w.poller is not me:
                    raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
        finally:
            if w.poller is me:
                w.poller = None


def send_message(w: World, params: dict, conn=None) -> dict:
    chat_id = _chat_id(params)
    text = _text(params)
    markup = _markup(params)
    reply = params.get("reply_parameters") or {}
    reply_to = reply.get("message_id") if isinstance(reply, dict) else None
    if reply_to is None and params.get("reply_to_message_id"):
        reply_to = params["reply_to_message_id"]
    reply_to = int(reply_to) if reply_to is not None else None
    now = time.monotonic()
    with w.lock:
        _known_chat(w, chat_id)
        _count(w, "sendMessage", chat_id, now, notification=reply_to is None)
        mid = w.new_message_id(chat_id)
        msg = {"message_id": mid, "date": int(time.time()), "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
               "from": _public(w.bot), "text": text, "_from_bot": True}
        if markup:
            msg["reply_markup"] = markup
        w.messages[(chat_id, mid)] = msg
        w.bot_log.append({"method": "sendMessage", "chat_id": chat_id, "message_id": mid, "text": text,
                          "reply_markup": markup, "reply_to": reply_to, "at": now})
        w.note_answer(chat_id, reply_to, now)
        return _public(msg)


def _photo_bytes(w: World, params: dict) -> bytes:
    """The photo as the Bot API takes it: the file part itself, an ``attach://<name>`` naming a file part, or the
    file_id of a photo sent before. A URL would be fetched by Telegram; the stand-in has no network to fetch it on."""
    photo = params.get("photo")
    if isinstance(photo, str) and photo.startswith("attach://"):
        photo = params.get(photo[len("attach://"):])
    if isinstance(photo, Upload):
        return photo.data
    if isinstance(photo, str) and photo in w.files:
        return w.files[photo]
    if not photo:
        raise ApiError(400, "Bad Request: there is no photo in the request")
    raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")


def _photo_size(data: bytes) -> tuple[int, int]:
    """Width and height of a picture Telegram would accept as a photo, or its refusal."""
    if not data:
        raise ApiError(400, "Bad Request: file must be non-empty")
    if len(data) > PHOTO_MAX_BYTES:
        raise ApiError(400, "Bad Request: file is too big")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
    if width + height > PHOTO_MAX_SIDES or max(width, height) > PHOTO_MAX_RATIO * min(width, height):
        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    return width, height


def send_photo(w: World, params: dict, conn=None) -> dict:
    """sendPhoto: counted like any message; the photo is kept under its file_id (``BotApiStandin.photo``)."""
    chat_id = _chat_id(params)
    caption = str(params.get("caption") or "")
    if len(caption) > CAPTION_MAX:
        raise ApiError(400, "Bad Request: message caption is too long")
    markup = _markup(params)
    data = _photo_bytes(w, params)
    width, height = _photo_size(data)
    unique = hashlib.sha256(data).hexdigest()[:16]
    reply = params.get("reply_parameters") or {}
    reply_to = reply.get("message_id") if isinstance(reply, dict) else None
    now = time.monotonic()
    with w.lock:
        _known_chat(w, chat_id)
        _count(w, "sendPhoto", chat_id, now, notification=reply_to is None)
        mid = w.new_message_id(chat_id)
        file_id = f"photo-{chat_id}-{mid}-{unique}"
        w.files[file_id] = data
        sizes = [{"file_id": file_id, "file_unique_id": unique, "width": width, "height": height, "file_size": len(data)}]
        msg = {"message_id": mid, "date": int(time.time()), "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
               "from": _public(w.bot), "photo": sizes, "_from_bot": True}
        if caption:
            msg["caption"] = caption
        if markup:
            msg["reply_markup"] = markup
        w.messages[(chat_id, mid)] = msg
        w.bot_log.append({"method": "sendPhoto", "chat_id": chat_id, "message_id": mid, "caption": caption,
                          "file_id": file_id, "width": width, "height": height, "reply_markup": markup,
                          "reply_to": reply_to, "at": now})
        w.note_answer(chat_id, reply_to, now)
        return _public(msg)


def _bot_message(w: World, params: dict, what: str) -> dict:
    chat_id = _chat_id(params)
    try:
        mid = int(params["message_id"])
    except (KeyError, TypeError, ValueError):
        raise ApiError(400, "Bad Request: message identifier is not specified")
    msg = w.messages.get((chat_id, mid))
    if msg is None or (what != "delete" and not msg["_from_bot"]):
        raise ApiError(400, f"Bad Request: message to {what} not found")
    return msg


def edit_message_text(w: World, params: dict, conn=None) -> dict:
    text = _text(params)
    markup = _markup(params)
    now = time.monotonic()
    with w.lock:
        msg = _bot_message(w, params, "edit")
        if msg["text"] == text and msg.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        _count(w, "editMessageText", msg["chat"]["id"], now)
        msg["text"] = text
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        w.bot_log.append({"method": "editMessageText", "chat_id": msg["chat"]["id"], "message_id": msg["message_id"],
                          "text": text, "reply_markup": markup, "at": now})
        return _public(msg)


def edit_message_reply_markup(w: World, params: dict, conn=None) -> dict:
    markup = _markup(params)
    with w.lock:
        msg = _bot_message(w, params, "edit")
        _count(w, "editMessageReplyMarkup", msg["chat"]["id"], time.monotonic())
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        w.bot_log.append({"method": "editMessageReplyMarkup", "chat_id": msg["chat"]["id"],
                          "message_id": msg["message_id"], "reply_markup": markup, "at": time.monotonic()})
        return _public(msg)


def delete_message(w: World, params: dict, conn=None) -> bool:
    with w.lock:
        msg = _bot_message(w, params, "delete")
        del w.messages[(msg["chat"]["id"], msg["message_id"])]
        w.bot_log.append({"method": "deleteMessage", "chat_id": msg["chat"]["id"], "message_id": msg["message_id"],
                          "at": time.monotonic()})
        return True


def answer_callback_query(w: World, params: dict, conn=None) -> bool:
    """Not a message in the chat (a toast on the user's screen): not counted by the flood limits."""
    with w.lock:
        info = w.callback_queries.get(str(params.get("callback_query_id")))
        if info is None or info["answered"] is not None:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        info["answered"] = {"text": params.get("text"), "show_alert": str(params.get("show_alert")).lower() == "true"}
        w.bot_log.append({"method": "answerCallbackQuery", "chat_id": info.get("chat_id"), **info["answered"],
                          "at": time.monotonic()})
        w.note_answer(0, None, time.monotonic(), callback_update=info["update_id"])
        return True


def send_chat_action(w: World, params: dict, conn=None) -> bool:
    with w.lock:
        _known_chat(w, _chat_id(params))
    return True


def set_webhook(w: World, params: dict, conn=None) -> bool:
    url = str(params.get("url") or "")
    if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not (1 <= len(str(secret)) <= 256):
        raise ApiError(400, "Bad Request: secret token is invalid")
    with w.lock:
        w.webhook = {"url": url, "secret_token": secret}
        w.changed.notify_all()
    return True


def delete_webhook(w: World, params: dict, conn=None) -> bool:
    with w.lock:
        w.webhook = {"url": "", "secret_token": None}
        if str(params.get("drop_pending_updates")).lower() == "true":
            w.updates.clear()
    return True


def get_webhook_info(w: World, params: dict, conn=None) -> dict:
    with w.lock:
        return {"url": w.webhook["url"], "has_custom_certificate": False, "pending_update_count": len(w.updates)}


def set_my_commands(w: World, params: dict, conn=None) -> bool:
    with w.lock:
        w.bot["_commands"] = params.get("commands") or []
    return True


def get_my_commands(w: World, params: dict, conn=None) -> list:
    with w.lock:
        return list(w.bot.get("_commands", []))


def delete_my_commands(w: World, params: dict, conn=None) -> bool:
    with w.lock:
        w.bot.pop("_commands", None)
    return True


def close_or_logout(w: World, params: dict, conn=None) -> bool:
    return True


METHODS = {
    "getme": get_me,
    "getupdates": get_updates,
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
    "deletemessage": delete_message,
    "answercallbackquery": answer_callback_query,
    "sendchataction": send_chat_action,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "setmycommands": set_my_commands,
    "getmycommands": get_my_commands,
    "deletemycommands": delete_my_commands,
    "close": close_or_logout,
    "logout": close_or_logout,
}
