"""The bot holds a bounded number of updates: under overload the poller waits and the rest stay with Telegram.

Without the bound, a bot reading updates faster than it answers them kept every one in memory (the soak at ten times
the Telegram benchmark's load grew runbot by ~64 MiB a minute).
"""

from __future__ import annotations

import asyncio

import pytest

from telegram_app.bot import app as bot_app
from telegram_app.bot.app import BoundedUpdateQueue
from tests.conftest import wait_for
from tests.fixtures.telegram import BotRunner


def test_bounded_update_queue_holds_at_most_its_limit():
    async def scenario():
        queue = BoundedUpdateQueue(2)
        await queue.put("a")
        await queue.put("b")
        with pytest.raises(asyncio.TimeoutError):  # full: the poller's put waits
            await asyncio.wait_for(queue.put("c"), 0.05)
        assert [await queue.get(), await queue.get()] == ["a", "b"]
        await queue.put("c")
        with pytest.raises(asyncio.TimeoutError):  # two in hand and none finished: nothing more is taken out
            await asyncio.wait_for(queue.get(), 0.05)
        queue.release()
        assert await queue.get() == "c"

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_bot_with_two_updates_in_hand_still_answers_everyone(telegram_settings, standin, monkeypatch):
    """Each handled update gives its slot back: twelve traders' messages through a bot holding two at a time."""
    monkeypatch.setattr(bot_app, "IN_HAND_UPDATES", 2)
    runner = BotRunner(standin).start()
    try:
        updates = [standin.send_text(810_000 + i, "/help") for i in range(12)]
        wait_for(lambda: all(u["update_id"] in standin.world.answered for u in updates), timeout=60,
                 message="every /help answered")
    finally:
        runner.stop()
