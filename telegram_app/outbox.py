"""The outbox: every message the bot sends on its own (notifications, alerts, broadcasts) is a row first.

`outbox_enqueue` writes the row in the caller's transaction and queues `telegram_app.send_message` on
commit; `outbox_send` (the task's body) takes a send slot from the Redis schedule shared by every worker,
claims the row with a compare-and-swap, sends, and records the outcome. A 429 pauses every sender for
``retry_after``; a chat that is gone for good is recorded in BlockedChat and nothing more is sent to it.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone as djtz

from telegram_app import botapi, limits
from telegram_app.models import BlockedChat, OutboxMessage

logger = logging.getLogger(__name__)
Status = OutboxMessage.Status
MAX_ATTEMPTS = 6
GATE_MAX_WAIT_MS = 250
IN_TASK_WAIT_MS = 1000  # a slot this close is waited for in the task; a later one is a countdown
CLAIM_LEASE = timedelta(seconds=120)  # longer than the task's hard time limit
RECORD_TRIES = 8  # recording a sent message rides out ~18 s of database trouble (a restart), within the soft limit


@dataclass(frozen=True)
class Outcome:
    done: bool
    retry_in: float = 0.0
    status: str = ""


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _dt_to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


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
        transaction.on_commit(lambda: send_message.delay(row.pk))
    return row


def _retry(row_id: int, seconds: float, **fields) -> Outcome:
    if fields:
        OutboxMessage.objects.filter(pk=row_id).update(**fields)
    return Outcome(done=False, retry_in=max(0.0, seconds))


def _slot(row: OutboxMessage) -> Outcome | None:
    """None when the row may be sent now (after waiting in the task for a slot at most IN_TASK_WAIT_MS away);
    otherwise when to come back. Waiting here instead of a countdown saves a second run of the task."""
    if row.reserved_for is not None:
        now_ms, pause_ms = limits.send_clock()
        if _dt_to_ms(row.reserved_for) >= pause_ms:
            wait = _dt_to_ms(row.reserved_for) - now_ms
            if wait > IN_TASK_WAIT_MS:
                return _retry(row.pk, wait / 1000)
            time.sleep(max(0, wait) / 1000)
            return None
    for _ in range(3):
        slot = limits.send_slot_reserve(chat_id=row.chat_id)
        if slot.wait_ms > IN_TASK_WAIT_MS:
            reserved_for = _ms_to_dt(slot.now_ms + slot.wait_ms) if slot.reserved else None
            return _retry(row.pk, slot.wait_ms / 1000, reserved_for=reserved_for)
        if slot.wait_ms > 0:
            time.sleep(slot.wait_ms / 1000)
        if slot.reserved:
            return None
    return _retry(row.pk, 1.0, reserved_for=None)


def _gate(row: OutboxMessage) -> bool:
    """The last check right before sending; waits out the few milliseconds a late slot may need."""
    for attempt in range(20):
        wait_ms = limits.send_gate(chat_id=row.chat_id, member=f"{row.pk}:{attempt}")
        if wait_ms == 0:
            return True
        if wait_ms > GATE_MAX_WAIT_MS:
            return False
        time.sleep(wait_ms / 1000)
    return False


def outbox_send(*, outbox_id: int) -> Outcome:
    blocked = BlockedChat.objects.filter(chat_id=OuterRef("chat_id")).values("reason")[:1]
    row = OutboxMessage.objects.filter(pk=outbox_id).annotate(blocked_reason=Subquery(blocked)).first()
    if row is None or row.status != Status.PENDING:
        return Outcome(done=True, status=row.status if row else "missing")
    reason = row.blocked_reason
    if reason is not None:
        OutboxMessage.objects.filter(pk=row.pk, status=Status.PENDING).update(status=Status.DROPPED, error=f"chat blocked: {reason}"[:300])
        return Outcome(done=True, status=Status.DROPPED)
    wait = _slot(row)
    if wait is not None:
        return wait
    # Claimed before the gate, so nothing but the HTTP call separates the recorded send time from the send.
    if not OutboxMessage.objects.filter(pk=row.pk, status=Status.PENDING).update(
        status=Status.SENDING, claimed_at=djtz.now(), attempts=F("attempts") + 1
    ):
        return Outcome(done=True, status="taken")
    if not _gate(row):
        return _retry(row.pk, 0.2, status=Status.PENDING, reserved_for=None, attempts=F("attempts") - 1)
    params = {"chat_id": row.chat_id, "text": row.text, "reply_markup": row.reply_markup, "parse_mode": row.parse_mode or None}
    try:
        result = botapi.call("sendMessage", params)
    except botapi.RateLimited as exc:
        limits.send_pause(seconds=exc.retry_after)
        logger.warning("telegram 429: pausing every sender for %ss", exc.retry_after)
        return _retry(row.pk, exc.retry_after, status=Status.PENDING, reserved_for=None, error="429 " + exc.description[:200])
    except botapi.ChatGone as exc:
        return _chat_gone(row, exc.description)
    except botapi.BotApiError as exc:
        attempts = row.attempts + 1
        if exc.transient and attempts < MAX_ATTEMPTS:
            delay = min(60.0, 2.0**attempts) * random.uniform(0.5, 1.5)
            return _retry(row.pk, delay, status=Status.PENDING, reserved_for=None, error=exc.description[:300])
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


def outbox_recover(*, older_than: timedelta = CLAIM_LEASE) -> list[int]:
    """Rows whose task was lost: a claim older than the lease (the worker died mid-send) goes back to
    pending, and pending rows whose slot passed long ago are queued again. Returns the ids to queue."""
    now = djtz.now()
    cutoff = now - older_than
    OutboxMessage.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff).update(status=Status.PENDING, reserved_for=None)
    stale = OutboxMessage.objects.filter(status=Status.PENDING, created_at__lt=cutoff)
    stale = stale.filter(reserved_for__isnull=True) | stale.filter(reserved_for__lt=cutoff)
    return list(stale.values_list("pk", flat=True)[:5000])
