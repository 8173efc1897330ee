"""Callback data for inline buttons: bound to the Telegram user it was shown to, signed, and dated.

Format (at most 64 bytes, Telegram's limit): ``<action>:<arg>:...:<minute36>:<sig>`` where ``sig`` is an
HMAC over the Telegram user id and the rest. A button pressed by anyone else, edited by a client, or
older than its action allows is refused before any handler runs. Pure: the key and the clock are
arguments (`callback_key()` derives the desk's key from SECRET_KEY).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

MAX_BYTES = 64
SIG_CHARS = 10
DEFAULT_MAX_AGE_S = 24 * 3600
# Buttons that move money or reveal secrets expire quickly.
SHORT_LIVED = {"bc": 600, "ba": 600, "sc": 600, "wx": 120, "lv": 300, "kc": 300, "va": 300, "wd": 300}


class CallbackError(ValueError):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Callback:
    action: str
    args: tuple[str, ...]
    issued_minute: int
    sig: str


def callback_key() -> bytes:
    """The key every button of the desk is signed with (the bot's screens and the notifications' buttons)."""
    return hashlib.sha256(b"jarvis-telegram-callbacks|" + settings.SECRET_KEY.encode()).digest()


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _sig(key: bytes, user_id: int, body: str) -> str:
    mac = hmac.new(key, f"{user_id}|{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:SIG_CHARS]


def cb_sign(*, key: bytes, user_id: int, action: str, args: tuple = (), now: float) -> str:
    parts = [action, *(str(a) for a in args)]
    if any(":" in p or not p for p in parts):
        raise ValueError("callback parts must be non-empty and free of ':'")
    body = ":".join([*parts, _b36(int(now // 60))])
    data = f"{body}:{_sig(key, user_id, body)}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data too long ({len(data)} bytes)")
    return data


def cb_verify(*, key: bytes, user_id: int, data: str, now: float, max_age_s: int | None = None) -> Callback:
    parts = (data or "").split(":")
    if len(parts) < 3:
        raise CallbackError("That button is not one of mine. Send the command again.", "malformed")
    *body_parts, minute36, sig = parts
    body = ":".join([*body_parts, minute36])
    if len(sig) != SIG_CHARS or not sig.isascii():  # compare_digest refuses non-ASCII text with a TypeError
        raise CallbackError("That button is not one of mine. Send the command again.", "malformed")
    if not hmac.compare_digest(sig.encode(), _sig(key, user_id, body).encode()):
        raise CallbackError("That button was not made for you. Use the buttons under your own messages.", "foreign")
    try:
        issued = int(minute36, 36)
    except ValueError:
        raise CallbackError("That button is not one of mine. Send the command again.", "malformed")
    action, args = body_parts[0], tuple(body_parts[1:])
    limit = max_age_s if max_age_s is not None else SHORT_LIVED.get(action, DEFAULT_MAX_AGE_S)
    age = now - issued * 60
    if age > limit + 60 or age < -120:
        raise CallbackError("That button has expired. Send the command again for fresh buttons.", "stale")
    return Callback(action=action, args=args, issued_minute=issued, sig=sig)
