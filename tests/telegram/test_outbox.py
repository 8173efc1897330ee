"""The outbox dispatcher through a real Celery worker, against the stand-in's flood limits."""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from telegram_app.models import BlockedChat, OutboxMessage
from telegram_app.outbox import outbox_enqueue
from telegram_app.tasks import outbox_sweep, send_message
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboxMessage.Status


def _all_sent(n):
    return lambda: OutboxMessage.objects.filter(status=Status.SENT).count() == n


def _max_in_window(times, window):
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_burst_is_sent_within_telegrams_limits(telegram_settings, standin, celery_worker):
    chats = list(range(1000, 1040))
    for chat in chats:
        standin.send_text(chat, "/start")
    with transaction.atomic():
        for chat in chats:
            outbox_enqueue(chat_id=chat, text=f"fill for {chat}")
        for chat in chats[:5]:
            outbox_enqueue(chat_id=chat, text=f"second fill for {chat}")
    wait_for(_all_sent(45), timeout=30, message="45 messages sent")
    sends = standin.log(method="sendMessage")
    assert len(sends) == 45 and standin.stats()["flood_429s"] == 0
    assert _max_in_window([e["at"] for e in sends], 1.0) <= 30
    for chat in chats[:5]:
        first, second = [e["at"] for e in sends if e["chat_id"] == chat]
        assert second - first >= 0.98  # one a second per chat


def test_a_429_pauses_every_sender_for_retry_after(telegram_settings, standin, celery_worker):
    for chat in range(2000, 2006):
        standin.send_text(chat, "/start")
    standin.world.flood.force(count=1, retry_after=2)
    with transaction.atomic():
        for chat in range(2000, 2006):
            outbox_enqueue(chat_id=chat, text="exit filled")
    wait_for(_all_sent(6), timeout=30, message="all sent after the pause")
    refused_at = standin.world.flood.refusals[0]
    sends = [e["at"] for e in standin.log(method="sendMessage")]
    assert len(sends) == 6 and standin.stats()["flood_429s"] == 1
    early = [round(t - refused_at, 3) for t in sends if refused_at < t < refused_at + 1.9]
    assert len(early) <= 1, early  # only a send already past the gate on the other worker thread


def test_a_chat_that_blocked_the_bot_gets_nothing_more(telegram_settings, standin, celery_worker):
    standin.send_text(3000, "/start")
    standin.block(3000)
    with transaction.atomic():
        first = outbox_enqueue(chat_id=3000, text="one")
    wait_for(lambda: OutboxMessage.objects.get(pk=first.pk).status == Status.FAILED, message="first fails")
    assert "blocked" in BlockedChat.objects.get(chat_id=3000).reason
    later = outbox_enqueue(chat_id=3000, text="two")
    assert later.status == Status.DROPPED and "blocked" in later.error
    assert standin.log(3000) == []


def test_same_dedupe_key_is_sent_once_and_redelivered_tasks_send_nothing(telegram_settings, standin, celery_worker):
    standin.send_text(4000, "/start")
    with transaction.atomic():
        a = outbox_enqueue(chat_id=4000, text="once", dedupe_key="event:1")
        b = outbox_enqueue(chat_id=4000, text="once", dedupe_key="event:1")
    assert a.pk == b.pk
    wait_for(_all_sent(1), message="sent")
    send_message.delay(a.pk).get(timeout=10)  # a redelivery after the send
    assert len(standin.log(4000, "sendMessage")) == 1


def test_messages_left_behind_by_a_dead_worker_are_sent_once(telegram_settings, standin, celery_worker):
    for chat in (5000, 5001):
        standin.send_text(chat, "/start")
    long_ago = timezone.now() - timedelta(minutes=10)
    # A worker claimed this one and died before sending; the task for the other one was lost.
    claimed = OutboxMessage.objects.create(chat_id=5000, text="claimed", status=Status.SENDING, claimed_at=long_ago, attempts=1)
    lost = OutboxMessage.objects.create(chat_id=5001, text="lost")
    OutboxMessage.objects.filter(pk__in=[claimed.pk, lost.pk]).update(created_at=long_ago)
    fresh = OutboxMessage.objects.create(chat_id=5001, text="fresh, its task is still queued")
    outbox_sweep.delay().get(timeout=10)
    # The sweep hands the waiting rows to the pump, which takes the fresh one too (its chat's next message).
    wait_for(_all_sent(3), message="recovered messages sent")
    send_message.delay(fresh.pk).get(timeout=10)  # the fresh row's own task, arriving late, sends nothing more
    outbox_sweep.delay().get(timeout=10)
    texts = [e["text"] for e in standin.log(method="sendMessage")]
    assert sorted(texts) == ["claimed", "fresh, its task is still queued", "lost"]
    assert texts.index("lost") < texts.index("fresh, its task is still queued")  # a chat's messages in order


def _scheduled_tasks(worker) -> list:
    """The countdown/ETA tasks the worker holds in memory (what `celery inspect scheduled` lists)."""
    from celery.worker.request import Request

    entries = list(worker.consumer.timer.schedule.queue)
    return [e for e in entries if getattr(e.entry, "args", None) and isinstance(e.entry.args[0], Request)]


def test_a_backlog_waits_in_the_table_not_as_tasks_in_the_workers_memory(telegram_settings, standin, celery_worker):
    """Three seconds of Telegram's budget at once, behind a 429's pause: what cannot go within a second stays a
    pending row that the pump sends as the budget allows. The worker holds no countdown task per waiting message
    (it used to, and under a long overload, once a pause put the schedule more than a second ahead, every new
    message became one more task in memory)."""
    chats = list(range(6000, 6090))
    for chat in chats:
        standin.send_text(chat, "/start")
    standin.world.flood.force(count=1, retry_after=2)
    with transaction.atomic():
        for chat in chats:
            outbox_enqueue(chat_id=chat, text=f"take-profit filled for {chat}")
    most_waiting = most_scheduled = 0
    deadline = time.monotonic() + 40
    while OutboxMessage.objects.filter(status=Status.SENT).count() < 90:  # sampled all through the drain
        assert time.monotonic() < deadline, "the backlog was not sent in 40 s"
        most_waiting = max(most_waiting, OutboxMessage.objects.filter(status=Status.PENDING).count())
        most_scheduled = max(most_scheduled, len(_scheduled_tasks(celery_worker)))
        time.sleep(0.1)
    assert most_waiting >= 30, most_waiting  # a backlog really waited
    assert most_scheduled <= 1, most_scheduled  # at most the pump's own timer
    sends = standin.log(method="sendMessage")
    assert len(sends) == 90 and standin.stats()["flood_429s"] == 1  # the forced one only
    assert _max_in_window([e["at"] for e in sends], 1.0) <= 30


def test_the_pump_keeps_each_chats_messages_in_order_without_holding_back_other_chats(telegram_settings, standin, celery_worker):
    busy, others = 7000, list(range(7001, 7041))
    for chat in [busy, *others]:
        standin.send_text(chat, "/start")
    with transaction.atomic():
        for n in range(1, 5):
            outbox_enqueue(chat_id=busy, text=f"exit {n}")
        for chat in others:
            outbox_enqueue(chat_id=chat, text=f"fill for {chat}")
    wait_for(_all_sent(44), timeout=40, message="all sent")
    sends = standin.log(method="sendMessage")
    mine = [e for e in sends if e["chat_id"] == busy]
    assert [e["text"] for e in mine] == ["exit 1", "exit 2", "exit 3", "exit 4"]
    assert all(b["at"] - a["at"] >= 0.98 for a, b in zip(mine, mine[1:], strict=False))
    last_other = max(e["at"] for e in sends if e["chat_id"] != busy)
    assert last_other < mine[-1]["at"]  # the other chats did not wait behind the busy chat's four seconds
    assert standin.stats()["flood_429s"] == 0


def test_a_transient_error_is_retried_after_its_backoff_by_the_pump(telegram_settings, standin, celery_worker):
    from sandbox.telegram.state import ApiError

    standin.send_text(7100, "/start")
    real_call = standin.call
    failures = []

    def call(method, params, **kwargs):
        if method == "sendMessage" and params.get("chat_id") in (7100, "7100") and not failures:
            failures.append(time.monotonic())
            raise ApiError(502, "Bad Gateway")
        return real_call(method, params, **kwargs)

    standin.call = call
    try:
        with transaction.atomic():
            row = outbox_enqueue(chat_id=7100, text="stop-loss filled")
        wait_for(lambda: failures, message="the first attempt refused")
        waiting = wait_for(lambda: OutboxMessage.objects.filter(pk=row.pk, next_attempt_at__isnull=False).first(),
                           message="the backoff recorded")
        assert waiting.status == Status.PENDING and "Bad Gateway" in waiting.error
        wait_for(_all_sent(1), timeout=20, message="sent after the backoff")
    finally:
        standin.call = real_call
    sends = standin.log(7100, method="sendMessage")
    assert [e["text"] for e in sends] == ["stop-loss filled"]
    assert OutboxMessage.objects.get(pk=row.pk).attempts == 2


def test_every_reply_takes_a_slot_in_the_shared_windows_and_only_replies_use_the_reserve(telegram_settings):
    """Telegram counts a reply like any message: the bot's answers take a place in the bot-wide second and their chat's
    second, where the dispatcher's gate sees them. Notifications stop at 25 a second (30 less the replies' reserve);
    a reply may still go, up to the 30th, and then waits for the window to move."""
    import asyncio

    from telegram_app import limits
    from telegram_app.bot.app import _send_slot

    telegram_settings.TELEGRAM_REPLY_RESERVE_PER_SECOND = 5
    for chat in range(3000, 3025):
        assert limits.send_gate(chat_id=chat, member=f"fill:{chat}") == 0
    window = f"{limits.PREFIX}sent:global"
    fills = [at for member, at in limits.client().zrange(window, 0, -1, withscores=True) if member.startswith(b"fill:")]
    assert len(fills) == 25  # read now: once the second has passed they leave the window
    assert limits.send_gate(chat_id=3100, member="notification") > 0  # the rest is the replies' reserve
    first = asyncio.run(_send_slot(3100))
    assert first is not None and limits.client().zscore(window, first) is not None
    wait, for_chat = limits.reply_gate(chat_id=3100, member="same chat at once")
    assert wait > 0 and for_chat  # its chat's second is taken
    for chat in range(3200, 3204):
        assert limits.reply_gate(chat_id=chat, member=f"reply:{chat}") == (0, False)  # 30 in the second now
    late = asyncio.run(_send_slot(3300))
    assert late is not None and limits.client().zscore(window, late) - min(fills) >= 1000  # after the window moved


def test_notifications_leave_the_room_the_bots_recent_replies_need(telegram_settings):
    """Notifications get what the bot's recent replies leave of the 30, less a reserve into which replies can grow."""
    from telegram_app import limits

    telegram_settings.TELEGRAM_REPLY_RESERVE_PER_SECOND = 5
    telegram_settings.TELEGRAM_NOTIFICATION_FLOOR_PER_SECOND = 10
    for chat in range(4000, 4010):  # ten replies in this second
        assert limits.reply_gate(chat_id=chat, member=f"reply:{chat}") == (0, False)
    granted = sum(limits.send_gate(chat_id=chat, member=f"note:{chat}") == 0 for chat in range(4100, 4130))
    assert granted == 15  # 30 less the ten replies less the reserve of five
    for chat in range(4010, 4015):  # the reserve: replies grow into it
        assert limits.reply_gate(chat_id=chat, member=f"reply:{chat}") == (0, False)
    assert limits.reply_gate(chat_id=4200, member="reply:4200")[0] > 0  # and the second is full for everyone


def test_under_a_flood_of_replies_notifications_keep_their_floor(telegram_settings):
    from telegram_app import limits

    telegram_settings.TELEGRAM_REPLY_RESERVE_PER_SECOND = 5
    telegram_settings.TELEGRAM_NOTIFICATION_FLOOR_PER_SECOND = 10
    for chat in range(5000, 5020):  # twenty replies in this second: 30 - 20 - 5 would leave notifications five
        assert limits.reply_gate(chat_id=chat, member=f"reply:{chat}") == (0, False)
    granted = sum(limits.send_gate(chat_id=chat, member=f"note:{chat}") == 0 for chat in range(5100, 5130))
    assert granted == 10  # the floor


def test_a_send_counts_in_the_window_from_its_answer_not_from_when_it_left(telegram_settings):
    """Telegram counts a message when it arrives, somewhere between our gate and its answer. A send that was on its
    way longer than the whole window keeps its place in the bot-wide second (and its chat's) from its answer, so a
    31st send waits. Times are the Redis server's, which the limits use: the test waits on that clock, not on sleeps."""
    from tests.conftest import redis_clear
    from telegram_app import limits

    client, window, gap = limits.client(), limits.global_window_ms(), limits.chat_interval_ms(9000)
    key = f"{limits.PREFIX}sent:global"

    def redis_ms() -> int:
        seconds, micros = client.time()
        return seconds * 1000 + micros // 1000

    for _attempt in range(3):  # a machine stalled for a whole second leaves the last check undecided: try again
        redis_clear(client)
        assert limits.reply_gate(chat_id=9000, member="slow") == (0, False)
        left = int(client.zscore(key, "slow"))
        wait_for(lambda: redis_ms() > left + window, message="the window counted from when the send left to pass")
        limits.send_done(chat_id=9000, member="slow")
        answered = int(client.zscore(key, "slow"))
        assert answered > left + window  # its place moved to its answer
        for chat in range(9001, 9030):  # 29 more: 30 in the window
            assert limits.reply_gate(chat_id=chat, member=f"send:{chat}") == (0, False)
        waits = (limits.reply_gate(chat_id=9100, member="31st"), limits.reply_gate(chat_id=9000, member="same chat"))
        if redis_ms() < answered + min(window, gap):  # both asked while the answer was still inside its windows
            assert waits[0][0] > 0  # counted from its answer, it is still in the bot-wide window
            assert waits[1][1]  # and its chat's second starts at the answer
            return
    pytest.fail("the machine stalled for a second on each of three tries")


def test_a_rows_own_send_task_racing_the_pump_sends_it_once(telegram_settings, standin, celery_worker):
    """Two sends of one row at once: its own task (queued on commit) and the pump, each in a worker thread, and a
    third of each started by the test at the same instant. Each chat gets exactly one message; the row was claimed
    once (a second claim would count a second attempt). Two things each keep it to one: the chat's slot reservation
    in Redis and the claim's compare-and-swap in Postgres (with both removed, chats get two)."""
    import threading

    from django.db import connection

    from telegram_app import outbox as outbox_service
    from telegram_app.tasks import outbox_pump, send_message

    chats = list(range(7200, 7212))
    for chat in chats:
        standin.send_text(chat, "/start")
    for chat in chats:
        start = threading.Barrier(2)
        row = OutboxMessage.objects.create(chat_id=chat, text=f"fill for {chat}")

        def own_task(pk=row.pk, barrier=start):
            try:
                barrier.wait()
                send_message.run(pk)
            finally:
                connection.close()

        def pump(barrier=start):
            try:
                barrier.wait()
                outbox_service.outbox_pump(seconds=2.0)
            finally:
                connection.close()

        send_message.delay(row.pk)  # the worker's own pair
        outbox_pump.delay()
        threads = [threading.Thread(target=own_task), threading.Thread(target=pump)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    wait_for(_all_sent(len(chats)), timeout=30, message="every row sent")
    for chat in chats:
        assert [e["text"] for e in standin.log(chat, "sendMessage")] == [f"fill for {chat}"]
    assert set(OutboxMessage.objects.filter(chat_id__in=chats).values_list("attempts", flat=True)) == {1}
