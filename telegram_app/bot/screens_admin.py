"""Admin screens (numeric ids from TELEGRAM_ADMIN_IDS; the router refuses everyone else)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.db import transaction

from jarvis.celery import QUEUES
from jarvis.redis import redis_client
from monitoring.checks import readiness_run
from monitoring.heartbeats import queue_consumers
from monitoring.modes import modes_disagreement, process_modes
from telegram_app.bot.core import Screen
from telegram_app.models import TelegramAccount
from telegram_app.outbox import outbox_enqueue
from telegram_app.parsers import ParseError
from trading.models import Position
from trading.models.choices import POSITION_LIVE
from trading.prices import prices_get_many
from trading.services import kill_switch_set


def status(account, inc, *args):
    client = redis_client()
    depth = {q: client.llen(q) for q in QUEUES}
    open_positions = Position.objects.filter(status__in=POSITION_LIVE)
    mints = list(open_positions.values_list("token__mint", flat=True).distinct()[:200])
    prices = prices_get_many(mints=mints) if mints else {}
    ages = [time.time() - p.at for p in prices.values()]
    price_line = f"oldest {max(ages):.0f} s, newest {min(ages):.0f} s" if ages else "none cached"
    missing = len(mints) - len(prices)
    mode = f"Trading mode: {settings.TRADING_MODE}"
    try:
        consumers = queue_consumers(redis_client(retry=False), list(QUEUES))
        workers = ", ".join(f"{q}: {len(c)}" for q, c in consumers.items())
        problem = modes_disagreement(process_modes())
        mode += f"; {problem}" if problem else " (every process)"
    except Exception as exc:  # monitoring may not run here; say so rather than fail
        workers = f"unknown ({type(exc).__name__})"
    return Screen(f"Desk status\n{mode}\nQueues: " + ", ".join(f"{q} {n}" for q, n in depth.items()) +
                  f"\nWorkers per queue: {workers}\nOpen positions: {open_positions.count()}\n"
                  f"Prices of held tokens: {price_line}" + (f", {missing} without a price" if missing else ""))


def killswitch(account, inc, *args):
    if not args or args[0].lower() not in ("on", "off"):
        raise ParseError("Use /killswitch on or /killswitch off (optionally followed by a reason).")
    enabled = args[0].lower() == "on"
    reason = " ".join(args[1:])[:400]
    kill_switch_set(enabled=enabled, trader=None, actor=f"telegram:{inc.user_id}", reason=reason)
    return Screen("Global kill switch is ON: no new entries; exits keep running." if enabled
                  else "Global kill switch is off: entries are allowed again.")


def health(account, inc, *args):
    report = readiness_run()
    lines = [f"{name}: {c['status']} ({c['latency_ms']:.0f} ms) {c['detail']}".strip() for name, c in report["components"].items()]
    return Screen(f"Readiness: {report['status']}\n" + "\n".join(lines))


def broadcast(account, inc, *args):
    text = " ".join(args).strip()
    if not text:
        raise ParseError("Use /broadcast followed by the message to send to every trader.")
    key = hashlib.sha256(f"{inc.user_id}|{inc.message_id}|{text}".encode()).hexdigest()[:16]
    count = 0
    with transaction.atomic():
        for chat_id in TelegramAccount.objects.values_list("chat_id", flat=True).iterator():
            outbox_enqueue(chat_id=chat_id, text=f"📣 {text}", kind="broadcast", dedupe_key=f"bc:{key}:{chat_id}")
            count += 1
    return Screen(f"Broadcast queued for {count} traders; the dispatcher sends it within Telegram's limits.")


VIBE_HELP = ("Ask the desk assistant a question, e.g. /vibe how are the queues? It reads the desk through fixed tools "
             "and can only propose changes, which wait for your button. /vibe reset starts afresh.")


def vibe(account, inc, *args):
    """/vibe <question>: the conversation runs on the `vibe` queue (assistant app), enqueued by task name."""
    from jarvis.celery import app

    question = " ".join(args).strip()
    if not question:
        raise ParseError(VIBE_HELP)
    if question.lower() == "reset":
        app.send_task("assistant.vibe_reset", kwargs={"admin_id": inc.user_id, "chat_id": inc.chat_id})
        return None
    app.send_task("assistant.vibe_answer", kwargs={"admin_id": inc.user_id, "chat_id": inc.chat_id, "question": question[:2000]})
    return None


def vibe_decide(account, inc, action_id="", choice="", *args):
    """Confirm or Dismiss under a /vibe proposal: decided (and carried out) on the `vibe` queue."""
    from jarvis.celery import app

    if not inc.is_admin:
        return Screen("That button is for the desk's operators only; nothing was changed.")
    if not action_id.isdigit() or choice not in ("y", "n"):
        raise ParseError("That button is not one of mine. Ask /vibe again.")
    app.send_task("assistant.vibe_decide", kwargs={"action_id": int(action_id), "admin_id": inc.user_id,
                                                   "chat_id": inc.chat_id, "confirm": choice == "y"})
    return Screen("Confirmed: carrying it out now…" if choice == "y" else "Dismissed: nothing was changed.")
