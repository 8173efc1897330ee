"""Chat with the bot in the terminal as a Telegram user: the same handlers, through the Bot API stand-in."""

from __future__ import annotations

import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand

HELP = "Type messages as the user would. '#N' taps button N of the last message with buttons; 'quit' leaves."


class Command(BaseCommand):
    help = ("Talk to the bot from the terminal as Telegram user --user. Uses the stand-in at TELEGRAM_API_URL when "
            "one is serving (make run); otherwise starts a stand-in and the bot in this process. No token, no network.")

    def add_arguments(self, parser):
        parser.add_argument("--user", type=int, required=True, help="numeric Telegram user id to act as")

    def handle(self, *args, user, **options):
        self.user = user
        self.local = None
        self.control = self._find_standin() or self._start_local()
        self.http = httpx.Client(timeout=10.0)
        self.seen = len(self._log())
        self.stdout.write(HELP)
        try:
            while True:
                try:
                    line = input(f"[{user}]> ").strip()
                except EOFError:
                    break
                if line in ("quit", "exit"):
                    break
                if line:
                    self._say(line)
        finally:
            if self.local is not None:
                self.local[1].stop()
                self.local[0].stop()

    # --- the stand-in ---------------------------------------------------------------------------------
    def _find_standin(self) -> str | None:
        url = settings.TELEGRAM_API_URL.rstrip("/")
        try:
            httpx.get(f"{url}/_control/stats", timeout=1.0).raise_for_status()
        except httpx.HTTPError:
            return None
        self.stdout.write(f"using the stand-in at {url} (the bot of `make run` answers)")
        return f"{url}/_control"

    def _start_local(self) -> str:
        from telegram_app.bot.runner import BackgroundBot
        from sandbox.telegram import BotApiStandin

        standin = BotApiStandin().start()
        settings.TELEGRAM_API_URL = standin.url  # this process's dispatcher sends there too
        bot = BackgroundBot(api_url=standin.url).start()
        self.local = (standin, bot)
        self.stdout.write(f"started a stand-in at {standin.url} and the bot in this process")
        return f"{standin.url}/_control"

    def _call(self, verb: str, **params):
        response = self.http.post(f"{self.control}/{verb}", json=params)
        response.raise_for_status()
        return response.json()

    def _log(self) -> list[dict]:
        return httpx.post(f"{self.control}/log", json={"chat_id": self.user}, timeout=10.0).json()["log"]

    # --- talking --------------------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        if line.startswith("#") and line[1:].isdigit():
            buttons = self._buttons()
            index = int(line[1:]) - 1
            if not 0 <= index < len(buttons):
                self.stdout.write("no such button")
                return
            message_id, _, data = buttons[index]
            self._call("press", user_id=self.user, chat_id=self.user, message_id=message_id, data=data)
        else:
            self._call("send", user_id=self.user, text=line)
        self._pump_outbox()
        self._show()

    def _buttons(self) -> list[tuple[int, str, str]]:
        for message in reversed(self._call("messages", chat_id=self.user)["messages"]):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            if rows:
                return [(message["message_id"], b["text"], b["callback_data"]) for row in rows for b in row]
        return []

    def _pump_outbox(self) -> None:
        """Without `make run`'s workers, send this user's notifications from here (same dispatcher code)."""
        if self.local is None:
            return
        from telegram_app.models import OutboxMessage
        from telegram_app.outbox import outbox_send

        for row_id in OutboxMessage.objects.filter(chat_id=self.user, status="pending").values_list("pk", flat=True):
            outbox_send(outbox_id=row_id)

    def _show(self, settle: float = 0.4, limit: float = 15.0) -> None:
        deadline, quiet_since = time.monotonic() + limit, None
        while time.monotonic() < deadline:
            log = self._log()
            if len(log) > self.seen:
                for entry in log[self.seen:]:
                    self._print(entry)
                self.seen, quiet_since = len(log), time.monotonic()
            elif quiet_since is not None and time.monotonic() - quiet_since > settle:
                return
            time.sleep(0.1)

    def _print(self, entry: dict) -> None:
        verb = {"sendMessage": "bot", "editMessageText": "bot (edited)", "deleteMessage": "bot deleted message"}
        if entry["method"] == "answerCallbackQuery":
            if entry.get("text"):
                self.stdout.write(f"  [{'alert' if entry.get('show_alert') else 'toast'}] {entry['text']}")
            return
        if entry["method"] == "deleteMessage":
            self.stdout.write(f"  [{verb['deleteMessage']} {entry['message_id']}]")
            return
        self.stdout.write(f"{verb.get(entry['method'], entry['method'])}: {entry.get('text', '')}")
        rows = (entry.get("reply_markup") or {}).get("inline_keyboard") or []
        n = 0
        for row in rows:
            labels = []
            for button in row:
                n += 1
                labels.append(f"#{n} {button['text']}")
            self.stdout.write("   " + "   ".join(labels))
