"""What the router receives and returns: plain data, no Telegram library types."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings

from telegram_app.callbacks import callback_key, cb_sign


@dataclass(frozen=True)
class Incoming:
    user_id: int
    chat_id: int
    chat_type: str = "private"
    text: str | None = None  # a message
    callback_data: str | None = None  # a button press
    message_id: int | None = None  # the user's message, or the bot message under the pressed button
    username: str = ""
    first_name: str = ""
    edited: bool = False  # an edit of an earlier message: only looked at for a pasted key

    @property
    def private(self) -> bool:
        return self.chat_type == "private"

    @property
    def is_admin(self) -> bool:
        return self.user_id in settings.TELEGRAM_ADMIN_IDS


@dataclass
class Reply:
    text: str
    markup: dict | None = None
    delete_after_s: int | None = None  # auto-delete (exported keys)


@dataclass
class Photo:
    """A picture sent as a new message (sendPhoto, uploaded): a PNG's bytes and its caption."""

    png: bytes
    caption: str = ""
    markup: dict | None = None


@dataclass
class Edit:
    text: str
    markup: dict | None = None


@dataclass
class Delete:
    message_id: int


@dataclass
class Answer:
    """The answer to a button press (a toast, or an alert box)."""

    text: str = ""
    alert: bool = False


@dataclass
class Screen:
    """A screen being built: text plus rows of buttons (label, action, args)."""

    text: str
    rows: list[list[tuple[str, str, tuple]]] = field(default_factory=list)

    def button(self, label: str, action: str, *args) -> "Screen":
        self.rows.append([(label, action, args)])
        return self

    def row(self, *buttons: tuple) -> "Screen":
        self.rows.append([(label, action, tuple(args)) for label, action, *args in buttons])
        return self

    def markup(self, user_id: int) -> dict | None:
        if not self.rows:
            return None
        now = time.time()
        return {"inline_keyboard": [[{"text": label, "callback_data": cb_sign(key=callback_key(), user_id=user_id,
                                                                                action=action, args=args, now=now)}
                                     for label, action, args in row] for row in self.rows]}

