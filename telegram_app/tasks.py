"""Celery tasks of the telegram queue (routed by the `telegram_app.` prefix, late acks: the outbox row's
state makes a redelivered task harmless)."""

from __future__ import annotations

import logging

from celery import shared_task

from telegram_app import outbox

logger = logging.getLogger(__name__)


# No task events (Flower) for the sends: at Telegram's 30 a second they cost the worker about as much as the
# sends; the outbox rows (admin) are their record.
@shared_task(name="telegram_app.send_message", soft_time_limit=30, time_limit=45, ignore_result=True, send_events=False)
def send_message(outbox_id: int) -> str:
    result = outbox.outbox_send(outbox_id=outbox_id)
    if not result.done:
        # Come back at the granted slot; the countdown is seconds, far below the broker's visibility timeout.
        send_message.apply_async((outbox_id,), countdown=round(result.retry_in, 3))
        return "scheduled"
    return result.status


@shared_task(name="telegram_app.outbox_sweep", soft_time_limit=50, time_limit=60, ignore_result=True)
def outbox_sweep() -> int:
    """Periodic: queue again what a dead worker or a lost task left behind, and deliver missed events."""
    from telegram_app.notify import events_redeliver

    ids = outbox.outbox_recover()
    for outbox_id in ids:
        send_message.delay(outbox_id)
    delivered = events_redeliver()
    if ids or delivered:
        logger.info("outbox sweep: %s messages queued again, %s events delivered late", len(ids), delivered)
    return len(ids)


@shared_task(name="telegram_app.delete_message", soft_time_limit=20, time_limit=30, ignore_result=True)
def delete_message(chat_id: int, message_id: int) -> bool:
    """Auto-delete a sensitive message (an exported key) after its time is up; survives a bot restart."""
    from telegram_app import botapi

    try:
        botapi.call("deleteMessage", {"chat_id": chat_id, "message_id": message_id})
    except botapi.BotApiError as exc:
        if exc.transient and delete_message.request.retries < 5:
            raise delete_message.retry(countdown=5 * (delete_message.request.retries + 1))
        logger.warning("could not delete message %s in chat %s: %s", message_id, chat_id, exc.description)
        return False
    return True
