"""The stand-in's world: chats, messages, pending updates, webhook, and Telegram's flood limits.

Flood limits follow the Bot API FAQ ("avoid sending more than one message per second" in a chat; bulk
notifications: "not more than 30 messages per second or so"; "not more than 20 messages per minute to the same
group"); over them the answer is 429 with ``parameters.retry_after``. The FAQ makes no exception for replies, so
every message the bot sends or changes counts, whatever it answers: the ``send*`` methods (but sendChatAction)
and the ``edit*`` methods (COUNTED_METHODS in methods.py). A callback answer (a toast on the user's screen, no
message in the chat), a deletion and a chat action show no message and are not counted. The FAQ's "short bursts"
are not allowed: where the vendor is vague the stand-in is the stricter reading.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


class FloodLimits:
    def __init__(self, *, per_second: int = 30, per_chat_per_second: int = 1, per_group_per_minute: int = 20,
                 chat_window_s: float = 1.0, group_window_s: float = 60.0):
        self.per_second = per_second
        self.per_chat = per_chat_per_second
        self.chat_window_s = chat_window_s  # a private chat's window: Telegram's second (tests may shorten it)
        self.group_window_s = group_window_s  # a group's: Telegram's minute
        self.per_group = per_group_per_minute
        self._global: deque[float] = deque()
        self._chat: dict[int, deque[float]] = defaultdict(deque)
        self.refused = 0
        self.refused_unsolicited = 0  # of which: messages that answered nobody (notifications)
        self.refused_by_method: dict[str, int] = defaultdict(int)
        self.refusals: list[float] = []  # monotonic times of every 429
        self._forced: list[int] = []

    def force(self, *, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``count`` counted sends with 429 (a flood wait Telegram decided on its own)."""
        self._forced.extend([retry_after] * count)

    def _refuse(self, now: float, retry: int) -> ApiError:
        self.refused += 1
        self.refusals.append(now)
        return ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)

    def check(self, chat_id: int, now: float) -> None:
        """Raises 429 when one more counted message would break a limit; records it otherwise."""
        if self._forced:
            raise self._refuse(now, self._forced.pop(0))
        g = self._global
        while g and g[0] <= now - 1.0:
            g.popleft()
        c = self._chat[chat_id]
        window = self.group_window_s if chat_id < 0 else self.chat_window_s
        limit = self.per_group if chat_id < 0 else self.per_chat
        while c and c[0] <= now - window:
            c.popleft()
        wait = 0.0
        if len(g) >= self.per_second:
            wait = max(wait, g[0] + 1.0 - now)
        if len(c) >= limit:
            wait = max(wait, c[0] + window - now)
        if wait > 0:
            raise self._refuse(now, max(1, math.ceil(wait)))
        g.append(now)
        c.append(now)


class World:
    """Everything the stand-in knows; guarded by one lock, with a condition for long polling."""

    def __init__(self, *, bot_id: int = 7000000001, username: str = "jarvis_standin_bot", flood: FloodLimits | None = None):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.bot = {"id": bot_id, "is_bot": True, "first_name": "Jarvis", "username": username,
                    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.flood = flood or FloodLimits()
        self.updates: list[dict] = []  # not yet confirmed by an offset
        self.next_update_id = 1
        self.next_message_id: dict[int, int] = defaultdict(lambda: 1)
        self.messages: dict[tuple[int, int], dict] = {}  # every message in every chat, user's and bot's
        self.bot_log: list[dict] = []  # what the bot did, in order: {"method", "chat_id", "message_id", "text", ...}
        self.user_messages: dict[tuple[int, int], dict] = {}  # (chat, message_id) -> {"at"}
        self.blocked_by: set[int] = set()
        self.deactivated: set[int] = set()
        self.webhook: dict = {"url": "", "secret_token": None}
        self.poller: object | None = None  # the token of the getUpdates call in flight
        self.allowed_updates: list[str] = []  # getUpdates' allowed_updates, kept between calls; empty: every kind
        self.delivered: dict[int, float] = {}  # update_id -> time it left the server
        self.answered: dict[int, float] = {}  # update_id -> time the first answer arrived
        self.files: dict[str, bytes] = {}  # file_id -> the bytes uploaded (sendPhoto)
        self.update_chat: dict[int, tuple[int, int | None]] = {}  # update_id -> (chat_id, user message id)
        self.unanswered: dict[int, list[int]] = defaultdict(list)  # chat -> delivered update ids not answered yet
        self.calls: dict[str, int] = defaultdict(int)
        self.callback_queries: dict[str, dict] = {}
        self.next_callback = 1

    # --- ids and users -------------------------------------------------------------------------
    def new_message_id(self, chat_id: int) -> int:
        mid = self.next_message_id[chat_id]
        self.next_message_id[chat_id] += 1
        return mid

    @staticmethod
    def user(user_id: int, first_name: str | None = None) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": first_name or f"Trader{user_id}", "language_code": "en"}

    @staticmethod
    def chat(chat_id: int, user_id: int, chat_type: str) -> dict:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": f"Trader{user_id}"}
        return {"id": chat_id, "type": chat_type, "title": f"Group {chat_id}"}

    def push_update(self, update: dict, *, chat_id: int, user_message_id: int | None) -> dict:
        with self.lock:
            update["update_id"] = self.next_update_id
            self.next_update_id += 1
            self.updates.append(update)
            self.update_chat[update["update_id"]] = (chat_id, user_message_id)
            self.changed.notify_all()
            return update

    def note_answer(self, chat_id: int, reply_to: int | None, now: float, *, callback_update: int | None = None) -> None:
        """Reply latency bookkeeping: the first answer to a delivered update."""
        if callback_update is not None:
            self.answered.setdefault(callback_update, now)
            return
        waiting = self.unanswered.get(chat_id)
        for update_id in reversed(waiting or []):
            if reply_to is not None and reply_to == self.update_chat[update_id][1]:
                self.answered[update_id] = now
                waiting.remove(update_id)
                return

    def take_updates(self, offset: int | None, limit: int) -> list[dict]:
        if offset is not None:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if self.allowed_updates:  # Telegram never delivers a kind the bot did not ask for
            self.updates = [u for u in self.updates if set(u) - {"update_id"} <= set(self.allowed_updates)]
        out = self.updates[:limit]
        now = time.monotonic()
        for u in out:
            if u["update_id"] not in self.delivered:
                self.delivered[u["update_id"]] = now
                if "message" in u:
                    self.unanswered[self.update_chat[u["update_id"]][0]].append(u["update_id"])
        return out
