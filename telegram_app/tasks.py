"""Celery tasks of the telegram queue (routed by the `telegram_app.` prefix, late acks: the outbox row's
state makes a redelivered task harmless)."""

from __future__ import annotations

import logging

from celery import shared_task

from telegram_app import botapi, limits, outbox
from telegram_app.notify import events_redeliver

logger = logging.getLogger(__name__)


# No task events (Flower) for the sends: at Telegram's 30 a second they cost the worker about as much as the
# sends; the outbox rows (admin) are their record.
@shared_task(name="telegram_app.send_message", soft_time_limit=30, time_limit=45, ignore_result=True, send_events=False)
def send_message(outbox_id: int) -> str:
    if limits.pump_active():
        return "pump"  # a backlog is being sent in order; this message takes its turn there
    result = outbox.outbox_send(outbox_id=outbox_id)
    if not result.done:
        # Its slot is further than a second away (or it waits for a retry): the row stays pending for the pump,
        # not in this worker's memory as a countdown task.
        outbox.outbox_pump_kick()
        return "waiting"
    return result.status


@shared_task(name="telegram_app.outbox_pump", soft_time_limit=50, time_limit=60, ignore_result=True, send_events=False)
def outbox_pump(token: str | None = None) -> int:
    """Sends the waiting rows (see telegram_app.outbox); hands over to a fresh task after PUMP_SECONDS."""
    run = outbox.outbox_pump(token=token)
    if run.handover is not None:
        outbox_pump.delay(run.handover)
    elif run.wake_in is not None:
        # One timer for the pump, however many rows wait for a retry.
        outbox_pump.apply_async(countdown=round(min(run.wake_in, 30.0), 3))
    return run.sent


@shared_task(name="telegram_app.outbox_sweep", soft_time_limit=50, time_limit=60, ignore_result=True)
def outbox_sweep() -> int:
    """Periodic: hand the pump what a dead worker or a lost task left behind, and deliver missed events."""
    waiting = outbox.outbox_recover()
    if waiting:
        outbox.outbox_pump_kick()
    delivered = events_redeliver()
    if waiting or delivered:
        logger.info("outbox sweep: %s messages left waiting handed to the pump, %s events delivered late", waiting, delivered)
    return waiting


@shared_task(name="telegram_app.delete_message", soft_time_limit=20, time_limit=30, ignore_result=True)
def delete_message(chat_id: int, message_id: int) -> bool:
    """Auto-delete a sensitive message (an exported key) after its time is up; survives a bot restart."""
    try:
        botapi.call("deleteMessage", {"chat_id": chat_id, "message_id": message_id})
    except botapi.BotApiError as exc:
        if exc.transient and delete_message.request.retries < 5:
            raise delete_message.retry(countdown=5 * (delete_message.request.retries + 1))
        logger.warning("could not delete message %s in chat %s: %s", message_id, chat_id, exc.description)
        return False
    return True
