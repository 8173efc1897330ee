"""Fixtures of /vibe's tests: the LLM stand-in, and the desk pointed at it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

ADMIN = 900001  # tests.fixtures.telegram's telegram_settings makes this id an admin


@pytest.fixture
def llm():
    from sandbox.llm import LlmStandin

    server = LlmStandin(chunk_delay_s=0.005).start()
    yield server
    server.stop()


@pytest.fixture
def vibe_settings(settings, llm, telegram_settings):
    settings.VIBE_API_KEY = "test-llm-key-0123456789"
    settings.VIBE_BASE_URL = llm.url
    settings.VIBE_EDIT_INTERVAL_MS = 250
    settings.VIBE_MAX_RETRIES = 0
    return settings


@dataclass
class Desk:
    llm: object  # sandbox.llm.LlmStandin
    bot: object  # sandbox.telegram.BotApiStandin


@pytest.fixture
def vibe(vibe_settings, bot, celery_worker, llm) -> Desk:
    """The bot and a real Celery worker, /vibe's provider being the stand-in."""
    return Desk(llm=llm, bot=bot)


def ask(standin, text: str, *, user_id: int = ADMIN, timeout: float = 30.0):
    """Send ``text`` as the admin; wait for the turn to end and its message to show the whole answer.
    Returns (turn, message)."""
    from assistant.models import Turn
    from tests.conftest import wait_for

    last = Turn.objects.filter(admin_id=user_id).order_by("-id").values_list("id", flat=True).first() or 0
    standin.send_text(user_id, text)
    turn = wait_for(lambda: Turn.objects.filter(admin_id=user_id, id__gt=last).exclude(status="answering").first(),
                    timeout=timeout, message=f"the turn of {text!r}")

    def shown():
        for message in standin.bot_messages(user_id):
            if message["text"] == turn.answer:
                return message
        return None

    return turn, wait_for(shown, timeout=timeout, message="the answer in its message")
