"""One Telegram message that grows as the answer streams in.

The message is first an outbox row (written before it is sent, like every message of the desk, and so within the
outbox's flood limits); the conversation sends it at once through `outbox_send` if the telegram queue has not yet,
and then edits it with `editMessageText`. Edits change a message already sent rather than send one, as the bot's own
button screens do, so they take no send slot; they are throttled instead: at most one every VIBE_EDIT_INTERVAL_MS
(1 s, Telegram's pace for one chat) per message. Text that arrives in between is folded into the next edit, and the
last edit waits its turn, so the whole answer always arrives. A 429 on an edit pauses every sender for its
retry_after, as after any 429.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from telegram_app import botapi, limits
from telegram_app.models import OutboxMessage
from telegram_app.outbox import outbox_enqueue, outbox_send

logger = logging.getLogger(__name__)
MAX_CHARS = 4096
SENT_WAIT_S = 10.0  # how long the placeholder may take to be sent before the edits give up
FINAL_WAIT_S = 15.0  # how long the last edit waits for the gate


def _fit(text: str) -> str:
    text = text.strip() or "…"
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


class LiveMessage:
    def __init__(self, *, chat_id: int, placeholder: str = "💭 Thinking…"):
        self.chat_id = chat_id
        self.row = outbox_enqueue(chat_id=chat_id, text=placeholder, kind="vibe")
        self.message_id: int | None = None
        self.shown = placeholder
        self.last_edit = 0.0
        self.edits = 0

    def _sent(self) -> int | None:
        """The placeholder's Telegram message id, sending it here if the telegram queue has not yet."""
        if self.message_id is not None:
            return self.message_id
        deadline = time.monotonic() + SENT_WAIT_S
        while time.monotonic() < deadline:
            status, message_id = OutboxMessage.objects.filter(pk=self.row.pk).values_list("status", "telegram_message_id").get()
            if message_id is not None:
                self.message_id = message_id
                return message_id
            if status in (OutboxMessage.Status.FAILED, OutboxMessage.Status.DROPPED):
                return None
            pause = 0.05
            if status == OutboxMessage.Status.PENDING:  # not taken by the telegram queue yet: send it from here
                outcome = outbox_send(outbox_id=self.row.pk)
                pause = 0.0 if outcome.done else min(max(outcome.retry_in, 0.05), 0.5)
            time.sleep(pause)
        return None

    def update(self, text: str) -> None:
        """Show ``text`` if an edit is due (one a VIBE_EDIT_INTERVAL_MS); otherwise the next edit shows it."""
        if time.monotonic() - self.last_edit >= settings.VIBE_EDIT_INTERVAL_MS / 1000:
            self._edit(_fit(text), wait_s=0.0)

    def finish(self, text: str, markup: dict | None = None) -> bool:
        """The whole answer: waits out the edit interval (and a 429's retry_after) to show it."""
        return self._edit(_fit(text), wait_s=FINAL_WAIT_S, markup=markup)

    def _edit(self, text: str, *, wait_s: float, markup: dict | None = None) -> bool:
        if text == self.shown and markup is None:
            return True
        message_id = self._sent()
        if message_id is None:
            return False
        deadline = time.monotonic() + wait_s
        due = self.last_edit + settings.VIBE_EDIT_INTERVAL_MS / 1000
        if due > time.monotonic():
            if due > deadline:
                return False
            time.sleep(due - time.monotonic())
        try:
            botapi.call("editMessageText", {"chat_id": self.chat_id, "message_id": message_id, "text": text,
                                            "reply_markup": markup})
        except botapi.RateLimited as exc:
            limits.send_pause(seconds=exc.retry_after)  # every sender of the bot waits it out, as after any 429
            self.last_edit = time.monotonic() + exc.retry_after - settings.VIBE_EDIT_INTERVAL_MS / 1000
            left = deadline - time.monotonic()
            return left > exc.retry_after and self._edit(text, wait_s=left, markup=markup)
        except botapi.BotApiError as exc:
            if "not modified" not in exc.description.lower():
                logger.warning("vibe: editing message %s failed: %s", message_id, exc.description)
                return False
        self.shown, self.last_edit = text, time.monotonic()
        self.edits += 1
        return True
