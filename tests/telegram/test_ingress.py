"""Partitioned ingress (`runbot --partitions N`): one getUpdates reader, N bot processes (here: threads), each
answering the users of its partition, in order, once, and finishing what a dead partition left behind."""

import json

import pytest

from telegram_app import limits
from telegram_app.bot import ingress
from telegram_app.bot.runner import BackgroundBot
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def partitioned(telegram_settings, standin):
    bots = []

    def start(*, partitions: int, only=None):
        for k in only if only is not None else range(partitions):
            bots.append(BackgroundBot(api_url=standin.url, mode="partition", partitions=partitions, partition=k).start())
        return bots

    reader = BackgroundBot(api_url=standin.url, mode="reader", partitions=2).start()
    yield start
    reader.stop()
    for bot in bots:
        bot.stop()


def _replies(standin, chat_id):
    return [e for e in standin.log(chat_id, "sendMessage") if e["reply_to"] is not None]


def test_each_user_is_answered_once_and_in_order_by_the_partition_of_their_id(partitioned, standin):
    partitioned(partitions=2)
    users = [5101, 5102, 5103, 5104]
    updates = {u: [standin.send_text(u, text) for text in ("/help", "/nonsense", "hello")] for u in users}
    everything = [up["update_id"] for ups in updates.values() for up in ups]
    wait_for(lambda: all(i in standin.world.answered for i in everything), timeout=60, message="every update answered")
    for user, sent in updates.items():
        replies = _replies(standin, user)
        assert [r["reply_to"] for r in replies] == [up["message"]["message_id"] for up in sent]  # once each, in order
        assert "/wallet" in replies[0]["text"] and "do not know /nonsense" in replies[1]["text"]
    wait_for(lambda: all(limits.client().llen(ingress.work_key(k)) == 0 for k in (0, 1)), timeout=20,
             message="every update removed from the work lists once handled")


def test_a_partition_handles_what_a_dead_one_left_and_drops_updates_read_twice(partitioned, standin):
    # partition 1 took an update and died before handling it; the reader then routed a copy of an update that
    # partition 1 had already taken (a reader restart re-reads unconfirmed updates).
    left = standin.send_text(5111, "/help")  # 5111 % 2 == 1
    with standin.world.lock:  # taken from Telegram by the reader that died, so not delivered again
        standin.world.updates.remove(left)
        standin.world.delivered[left["update_id"]] = 0.0
        standin.world.unanswered[5111].append(left["update_id"])
    client = limits.client()
    client.rpush(ingress.work_key(1), json.dumps(left))
    taken = standin.send_text(5113, "/help")
    with standin.world.lock:
        standin.world.updates.remove(taken)
    client.set(f"{limits.PREFIX}seen:{taken['update_id']}", 1)
    client.rpush(ingress.queue_key(1), json.dumps(taken))
    partitioned(partitions=2, only=[1])
    wait_for(lambda: left["update_id"] in standin.world.answered, timeout=60, message="the left update answered")
    after = standin.send_text(5113, "/help")
    wait_for(lambda: after["update_id"] in standin.world.answered, timeout=60, message="a later update answered")
    assert len(_replies(standin, 5111)) == 1
    assert [r["reply_to"] for r in _replies(standin, 5113)] == [after["message"]["message_id"]]  # the copy was dropped
    wait_for(lambda: client.llen(ingress.work_key(1)) == 0, timeout=20, message="work list emptied")
    assert client.llen(ingress.queue_key(1)) == 0
