"""Celery tasks of the `vibe` queue (routed by the `assistant.` prefix). The bot enqueues them by name
(`send_task`), so telegram_app never imports this app. Early acks: a question lost with its worker is asked again."""

from __future__ import annotations

from celery import shared_task

from assistant import services


@shared_task(name="assistant.vibe_answer", soft_time_limit=150, time_limit=180, ignore_result=True)
def vibe_answer(admin_id: int, chat_id: int, question: str) -> str:
    return services.question_answer(admin_id=admin_id, chat_id=chat_id, question=question).status


@shared_task(name="assistant.vibe_reset", soft_time_limit=20, time_limit=30, ignore_result=True)
def vibe_reset(admin_id: int, chat_id: int) -> int:
    from telegram_app.outbox import outbox_enqueue

    ended = services.conversation_reset(admin_id=admin_id)
    outbox_enqueue(chat_id=chat_id, text="Started afresh: I have forgotten our earlier questions.", kind="vibe")
    return ended


@shared_task(name="assistant.vibe_decide", soft_time_limit=60, time_limit=90, ignore_result=True)
def vibe_decide(action_id: int, admin_id: int, chat_id: int, confirm: bool) -> str:
    action = services.action_decide(action_id=action_id, admin_id=admin_id, chat_id=chat_id, confirm=confirm)
    return action.status if action else "refused"
