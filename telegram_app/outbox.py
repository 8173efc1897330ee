"""The outbox: every message the bot sends on its own (notifications, alerts, broadcasts) is a row first.

`outbox_enqueue` writes the row in the caller's transaction and queues `telegram_app.send_message` on
commit; `outbox_send` (the task's body) takes a send slot from the Redis schedule shared by every worker,
claims the row with a compare-and-swap, sends, and records the outcome. A 429 pauses every sender for
``retry_after``; a chat that is gone for good is recorded in BlockedChat and nothing more is sent to it.

A message whose slot is more than a second away is not re-queued for later: it stays `pending` in the table and
`outbox_pump` (one at a time, under a Redis lock) sends the waiting rows oldest first, each chat's in order, as
the budget allows. While the pump runs, new messages join its queue. So a backlog costs rows in Postgres and
nothing in a worker's memory (a countdown task per waiting message would be held in the worker until due).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone as djtz

from jarvis.locks import Lease
from telegram_app import botapi, limits
from telegram_app.models import BlockedChat, OutboxMessage

logger = logging.getLogger(__name__)
Status = OutboxMessage.Status
WAITING = (Status.PENDING, Status.SENDING)
MAX_ATTEMPTS = 6
GATE_MAX_WAIT_MS = 250
TASK_SLOT_WAIT_MS = 1000  # a send task waits in place for a slot this close; a later one is left to the pump
PUMP_CHAT_WAIT_MS = 100  # the pump waits this long for a chat's next second; past it the chat waits a pass
PUMP_BATCH = 200  # rows the pump reads at a time (the oldest waiting row of each chat)
PUMP_SECONDS = 15.0  # one pump task sends this long, then hands its lock to a fresh task (other tasks get a turn)
PUMP_LOCK_TTL_S = 15.0  # a dead pump's lock lapses after this; refreshed every PUMP_REFRESH_S
PUMP_REFRESH_S = 3.0
PUMP_IDLE_WAIT_S = 1.0  # the next row due within this: the pump waits for it; later: a timer task wakes it
CLAIM_LEASE = timedelta(seconds=120)  # longer than the task's hard time limit
RECORD_TRIES = 8  # recording a sent message rides out ~18 s of database trouble (a restart), within the soft limit


@dataclass(frozen=True)
class Outcome:
    done: bool
    retry_in: float = 0.0
    status: str = ""
    wait: str = ""  # not done because of: "chat" (its chat's limit), "bot" (the bot-wide budget or a 429), "backoff", "gate"


def outbox_enqueue(*, chat_id: int, text: str, reply_markup: dict | None = None, parse_mode: str = "",
                   kind: str = "notification", dedupe_key: str | None = None) -> OutboxMessage:
    """Write a message for ``chat_id``; it is sent after the surrounding transaction commits.

    With a ``dedupe_key`` a second call returns the first row and sends nothing more.
    """
    from telegram_app.tasks import send_message

    blocked = BlockedChat.objects.filter(chat_id=chat_id).values_list("reason", flat=True).first()
    fields = dict(chat_id=chat_id, text=text[:4096], reply_markup=reply_markup, parse_mode=parse_mode, kind=kind,
                  dedupe_key=dedupe_key)
    if blocked is not None:
        fields.update(status=Status.DROPPED, error=f"chat blocked: {blocked}"[:300])
    try:
        with transaction.atomic():
            row = OutboxMessage.objects.create(**fields)
    except IntegrityError:
        if dedupe_key is None:
            raise
        return OutboxMessage.objects.get(dedupe_key=dedupe_key)
    if row.status == Status.PENDING:
        # robust: a broker that refuses the task (full, away) is logged, never raised into the caller; the row is
        # kept and the outbox sweep sends it.
        transaction.on_commit(lambda: send_message.delay(row.pk), robust=True)
    return row


def _slot(row: OutboxMessage, *, max_wait_ms: int, chat_wait_ms: int) -> Outcome | None:
    """None once a slot is reserved and reached (waiting here at most ``max_wait_ms`` for the bot-wide budget and
    ``chat_wait_ms`` for the chat's own); otherwise why not. A slot further away is not reserved at all."""
    for _ in range(3):
        slot = limits.send_slot_reserve(chat_id=row.chat_id, max_wait_ms=max_wait_ms)
        if not slot.reserved and slot.wait_ms > (chat_wait_ms if slot.chat_busy else max_wait_ms):
            return Outcome(done=False, retry_in=slot.wait_ms / 1000, wait="chat" if slot.chat_busy else "bot")
        if slot.wait_ms > 0:
            time.sleep(slot.wait_ms / 1000)
        if slot.reserved:
            return None
    return Outcome(done=False, retry_in=0.1, wait="chat")


def _gate(row: OutboxMessage) -> str | None:
    """The last check right before sending; waits out the few milliseconds a late slot may need. Returns the
    send's member in the Redis window (for `limits.send_done`), or None when it may not go now."""
    for attempt in range(20):
        member = f"{row.pk}:{attempt}"
        wait_ms = limits.send_gate(chat_id=row.chat_id, member=member)
        if wait_ms == 0:
            return member
        if wait_ms > GATE_MAX_WAIT_MS:
            return None
        time.sleep(wait_ms / 1000)
    return None


def outbox_send(*, outbox_id: int, max_wait_ms: int = TASK_SLOT_WAIT_MS, chat_wait_ms: int = TASK_SLOT_WAIT_MS) -> Outcome:
    """Send one pending row now if its slot is close enough; otherwise leave it pending and say why."""
    blocked = BlockedChat.objects.filter(chat_id=OuterRef("chat_id")).values("reason")[:1]
    earlier = OutboxMessage.objects.filter(chat_id=OuterRef("chat_id"), pk__lt=OuterRef("pk"), status__in=WAITING)
    row = OutboxMessage.objects.filter(pk=outbox_id).annotate(blocked_reason=Subquery(blocked), after=Exists(earlier)).first()
    if row is None or row.status != Status.PENDING:
        return Outcome(done=True, status=row.status if row else "missing")
    reason = row.blocked_reason
    if reason is not None:
        OutboxMessage.objects.filter(pk=row.pk, status=Status.PENDING).update(status=Status.DROPPED, error=f"chat blocked: {reason}"[:300])
        return Outcome(done=True, status=Status.DROPPED)
    if row.after:  # an earlier message to this chat is still waiting or on its way: a chat reads them in order
        return Outcome(done=False, retry_in=0.1, wait="chat")
    if row.next_attempt_at is not None and row.next_attempt_at > djtz.now():
        return Outcome(done=False, retry_in=(row.next_attempt_at - djtz.now()).total_seconds(), wait="backoff")
    wait = _slot(row, max_wait_ms=max_wait_ms, chat_wait_ms=chat_wait_ms)
    if wait is not None:
        return wait
    # Claimed before the gate, so nothing but the HTTP call separates the recorded send time from the send.
    if not OutboxMessage.objects.filter(pk=row.pk, status=Status.PENDING).update(
        status=Status.SENDING, claimed_at=djtz.now(), attempts=F("attempts") + 1
    ):
        return Outcome(done=True, status="taken")
    member = _gate(row)
    if member is None:
        OutboxMessage.objects.filter(pk=row.pk).update(status=Status.PENDING, attempts=F("attempts") - 1)
        return Outcome(done=False, retry_in=0.2, wait="gate")
    params = {"chat_id": row.chat_id, "text": row.text, "reply_markup": row.reply_markup, "parse_mode": row.parse_mode or None}
    try:
        try:
            result = botapi.call("sendMessage", params)
        finally:
            limits.send_done(chat_id=row.chat_id, member=member)  # whatever the answer, Telegram had it by now
    except botapi.RateLimited as exc:
        limits.send_pause(seconds=exc.retry_after)
        logger.warning("telegram 429: pausing every sender for %ss", exc.retry_after)
        OutboxMessage.objects.filter(pk=row.pk).update(status=Status.PENDING, error="429 " + exc.description[:200])
        return Outcome(done=False, retry_in=exc.retry_after, wait="bot")
    except botapi.ChatGone as exc:
        return _chat_gone(row, exc.description)
    except botapi.BotApiError as exc:
        attempts = row.attempts + 1
        if exc.transient and attempts < MAX_ATTEMPTS:
            delay = min(60.0, 2.0**attempts) * random.uniform(0.5, 1.5)
            OutboxMessage.objects.filter(pk=row.pk).update(
                status=Status.PENDING, error=exc.description[:300], next_attempt_at=djtz.now() + timedelta(seconds=delay)
            )
            return Outcome(done=False, retry_in=delay, wait="backoff")
        OutboxMessage.objects.filter(pk=row.pk).update(status=Status.FAILED, error=exc.description[:300])
        logger.warning("outbox %s failed for good: %s", row.pk, exc.description)
        return Outcome(done=True, status=Status.FAILED)
    _record_sent(row.pk, result.get("message_id"))
    return Outcome(done=True, status=Status.SENT)


def _record_sent(row_id: int, message_id) -> None:
    """The message is out: record it even across a database restart or failover. A row left `sending` goes back
    to pending after CLAIM_LEASE and is sent again, so a lost write here would be a duplicate message."""
    for attempt in range(RECORD_TRIES):
        try:
            OutboxMessage.objects.filter(pk=row_id, status=Status.SENDING).update(
                status=Status.SENT, sent_at=djtz.now(), telegram_message_id=message_id, error=""
            )
            return
        except (OperationalError, InterfaceError):
            if attempt == RECORD_TRIES - 1 or connection.in_atomic_block:
                raise
            logger.warning("outbox %s was sent; the database is unreachable, recording it again", row_id)
            connection.close()
            time.sleep(min(5.0, 0.25 * 2**attempt))


def _chat_gone(row: OutboxMessage, description: str) -> Outcome:
    with transaction.atomic():
        BlockedChat.objects.get_or_create(chat_id=row.chat_id, defaults={"reason": description[:200]})
        OutboxMessage.objects.filter(pk=row.pk).update(status=Status.FAILED, error=description[:300])
        OutboxMessage.objects.filter(chat_id=row.chat_id, status=Status.PENDING).update(
            status=Status.DROPPED, error=f"chat blocked: {description}"[:300]
        )
    logger.info("chat %s is gone (%s): no more messages to it", row.chat_id, description)
    return Outcome(done=True, status=Status.FAILED)


def outbox_recover(*, older_than: timedelta = CLAIM_LEASE, waiting_longer_than: timedelta = timedelta(seconds=10)) -> int:
    """Rows that nothing is about to send: a claim older than the lease (the worker died mid-send) goes back to
    pending; pending rows due for more than ``waiting_longer_than`` (their task or their pump was lost) are
    counted. Returns how many rows the pump should take now (0: nothing to do)."""
    now = djtz.now()
    reclaimed = OutboxMessage.objects.filter(status=Status.SENDING, claimed_at__lt=now - older_than).update(
        status=Status.PENDING
    )
    overdue = _due(now).filter(created_at__lt=now - waiting_longer_than)
    return reclaimed + overdue.count()


# --- the pump: a backlog, oldest first, each chat in order --------------------------------------------------
@dataclass(frozen=True)
class PumpRun:
    sent: int = 0
    handover: str | None = None  # the lock's token: a fresh task carries on with it
    wake_in: float | None = None  # the next waiting row is due in this many seconds (a timer task wakes the pump)


def _due(now):
    return OutboxMessage.objects.filter(status=Status.PENDING).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _pump_rows() -> list[int]:
    """The ids of the oldest due row of each chat, oldest first: a chat's later messages never overtake its
    earlier ones, and a chat with many waiting messages does not hold back the others."""
    first = Window(RowNumber(), partition_by=[F("chat_id")], order_by=F("pk").asc())
    ranked = _due(djtz.now()).annotate(place=first).filter(place=1).order_by("pk")
    return list(ranked.values_list("pk", flat=True)[:PUMP_BATCH])


def _next_due_in() -> float | None:
    """Seconds until the earliest waiting row is due (0: one is due now); None when nothing waits."""
    waiting = OutboxMessage.objects.filter(status=Status.PENDING)
    at = waiting.order_by(F("next_attempt_at").asc(nulls_first=True)).values_list("next_attempt_at", flat=True)[:1]
    if not at:
        return None
    return 0.0 if at[0] is None else max(0.0, (at[0] - djtz.now()).total_seconds())


def outbox_pump(*, token: str | None = None, seconds: float = PUMP_SECONDS) -> PumpRun:
    """Send waiting rows for up to ``seconds``. Only one pump runs (Redis lock); ``token`` carries the lock
    over from the task that ran before. Returns what to do next: hand over, wake later, or nothing."""
    lock = limits.single_instance_lock(limits.PUMP_LOCK, ttl_seconds=PUMP_LOCK_TTL_S, token=token)
    if not (lock.renew() if token is not None else lock.acquire()):
        return PumpRun()
    limits.pump_kick_clear()
    deadline = time.monotonic() + seconds
    refreshed = time.monotonic()
    sent = 0
    handed_over = False
    try:
        while True:
            if time.monotonic() - refreshed > PUMP_REFRESH_S:
                if not lock.renew():
                    logger.warning("outbox pump lost its lock; stopping")
                    return PumpRun(sent=sent)
                refreshed = time.monotonic()
            try:
                rows = _pump_rows()
                if rows:
                    done, pause = _pump_pass(rows, deadline, lock)
                    sent += done
                    if pause or not done:  # the bot-wide budget is spent, or every waiting chat had its second
                        time.sleep(max(0.05, min(pause, deadline - time.monotonic(), PUMP_REFRESH_S)))
                else:
                    due_in = _next_due_in()
                    if due_in is None or due_in > PUMP_IDLE_WAIT_S:
                        lock.release()
                        # A message that saw the lock after this pump's last look is seen here.
                        if _pump_rows() and lock.acquire():
                            continue
                        return PumpRun(sent=sent, wake_in=due_in)
                    time.sleep(max(0.02, due_in))
            except (OperationalError, InterfaceError):
                logger.warning("outbox pump: the database is unreachable; trying again", exc_info=True)
                connection.close()
                time.sleep(1.0)
            if time.monotonic() > deadline:
                handed_over = lock.renew()
                return PumpRun(sent=sent, handover=lock.token if handed_over else None)
    finally:
        if not handed_over:
            lock.release()


def _pump_pass(rows: list[int], deadline: float, lock: Lease) -> tuple[int, float]:
    """Send what can go now; returns (sent, seconds to pause before the next pass: the bot-wide budget)."""
    sent = 0
    refreshed = time.monotonic()
    for outbox_id in rows:
        if time.monotonic() > deadline:
            break
        if time.monotonic() - refreshed > PUMP_REFRESH_S:
            if not lock.renew():
                break  # another pump took over (this one was thought dead); the caller notices
            refreshed = time.monotonic()
        outcome = outbox_send(outbox_id=outbox_id, chat_wait_ms=PUMP_CHAT_WAIT_MS)
        if outcome.done:
            sent += 1
        elif outcome.wait == "bot":
            return sent, outcome.retry_in
    return sent, 0.0


def outbox_pump_kick() -> None:
    """Make sure the pump will look at the waiting rows (one task for a burst of callers)."""
    from telegram_app.tasks import outbox_pump as pump_task

    if limits.pump_kick_claim():
        pump_task.delay()
