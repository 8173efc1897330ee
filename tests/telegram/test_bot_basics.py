"""Conversations through the stand-in with the real python-telegram-bot client on the bot side."""

import base58
import pytest

from telegram_app.models import TelegramAccount
from trading.models import KillSwitch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.usefixtures("quick_chats")  # many screens, one chat
def test_start_registers_once_and_offers_wallet_and_demo(tg_user):
    alice = tg_user(101)
    first = alice.send("/start")
    assert "Welcome to Jarvis" in first["text"] and "paper mode" in first["text"]
    assert [label for label, _ in alice.buttons()] == ["Create wallet", "Import wallet", "Paper trading (/demo)"]
    again = alice.send("/start")
    assert "Welcome back" in again["text"]
    account = TelegramAccount.objects.get(telegram_user_id=101)
    assert account.chat_id == 101 and account.trader.settings.mode == "paper"


@pytest.mark.usefixtures("quick_chats")  # many screens, one chat
def test_help_unknown_command_and_plain_text(tg_user):
    bob = tg_user(102)
    assert "/positions" in bob.send("/help")["text"]
    assert "I do not know /frobnicate" in bob.send("/frobnicate now")["text"]
    assert "/start first" in bob.send("/wallet")["text"]
    bob.send("/start")
    assert "did not understand" in bob.send("hello there")["text"]


@pytest.mark.usefixtures("quick_chats")  # many screens, one chat
def test_bad_addresses_get_plain_sentences(tg_user):
    carol = tg_user(103)
    carol.send("/start")
    assert "too short" in carol.send("/buy So1111111111111111111111111111111")["text"]
    assert "not a Solana address" in carol.send("/buy 0OIl-not-base58")["text"]
    reply = carol.send("/buy So11111111111111111111111111111111111111112 abc")["text"]
    assert "not a number" in reply and "Traceback" not in reply


@pytest.mark.usefixtures("quick_chats")  # many screens, one chat
def test_a_private_key_posted_in_a_group_is_deleted_and_warned_about(tg_user):
    dave = tg_user(104, chat_id=-5001, chat_type="group")
    key = base58.b58encode(bytes(range(64))).decode()
    answer = dave.send(key)
    assert "deleted it" in answer["text"]
    assert [e["method"] for e in dave.standin.log(-5001)] == ["deleteMessage", "sendMessage"]
    assert dave.standin.message(-5001, 1) is None  # the key message is gone
    assert "private" in dave.send("/wallet")["text"]


@pytest.mark.usefixtures("quick_chats")  # many screens, one chat
def test_admin_commands_are_refused_to_non_admins_and_work_for_admins(tg_user):
    mallory = tg_user(105)
    for command in ("/status", "/killswitch on", "/health", "/broadcast hi"):
        assert "operators only" in mallory.send(command)["text"]
    assert not KillSwitch.objects.filter(trader=None, enabled=True).exists()
    admin = tg_user(900001)
    assert "ON" in admin.send("/killswitch on maintenance")["text"]
    switch = KillSwitch.objects.get(trader=None)
    assert switch.enabled and switch.changed_by == "telegram:900001"
    assert "off" in admin.send("/killswitch off")["text"]
    assert "Use /killswitch on" in admin.send("/killswitch maybe")["text"]


def test_commands_over_the_per_user_rate_are_told_when_to_retry(tg_user, settings):
    settings.TELEGRAM_COMMAND_BURST = 3
    settings.TELEGRAM_COMMANDS_PER_MINUTE = 6
    eve = tg_user(106)
    replies = [eve.send("/help")["text"] for _ in range(4)]
    assert all("/positions" in r for r in replies[:3])
    assert "too fast" in replies[3] and "Try again in" in replies[3]
    other = tg_user(107)
    assert "/positions" in other.send("/help")["text"]  # limits are per user


@pytest.mark.usefixtures("quick_chats")  # many screens, one chat
def test_settings_buttons_change_settings_and_live_needs_a_wallet(tg_user):
    from trading.models import TradingSettings

    frank = tg_user(108)
    frank.send("/start")
    screen = frank.send("/settings")
    assert "Mode: paper" in screen["text"] and "Buy slippage: 3.0%" in screen["text"]
    assert "Buy slippage: 1.0%" in frank.press("Buy slip 1%")["message"]["text"]
    frank.press("Plan conservative")
    assert "Priority fee: medium: 10,000 micro-lamports a compute unit (exits 100,000)" in frank.press("medium")[
        "message"]["text"]
    assert "MEV protection: on" in frank.press("MEV protection on")["message"]["text"]
    prefs = TradingSettings.objects.get(trader__telegram_account__telegram_user_id=108)
    assert prefs.buy_slippage_bps == 100 and prefs.default_exit_plan["name"] == "conservative"
    assert (prefs.priority_fee_policy, prefs.mev_protection) == ("medium", True)  # read by every order (order_build)
    refused = frank.press("Switch to live mode")
    assert refused["answer"]["show_alert"] and "needs a wallet" in refused["answer"]["text"]
    frank.press("Edit buy presets")
    assert "not a number" in frank.send("0.2 lots")["text"]
    refused = frank.send("0.2 1,5")["text"]  # a comma could be a decimal or a thousands separator: neither is read
    assert "'1,5' has a space, comma or underscore inside" in refused and "at most one dot, like 0.5" in refused
    assert "Buy presets saved: 0.2 / 1.5 SOL" in frank.send("0.2 1.5")["text"]
    prefs.refresh_from_db()
    assert prefs.buy_presets_lamports == [200_000_000, 1_500_000_000] and prefs.mode == "paper"


@pytest.mark.usefixtures("quick_chats")  # many screens, one chat
def test_exported_key_message_is_deleted_by_the_task(tg_user, celery_worker, monkeypatch):
    """Through the bot: the message holding the exported key is there, then the worker's delete task removes it. Its
    time on screen (60 s in the product) is made 1 s here so the test need not wait a minute."""
    from telegram_app.bot import screens_account
    from tests.conftest import wait_for
    from trading.models import Wallet
    from trading.wallets import wallet_keypair

    monkeypatch.setattr(screens_account, "EXPORT_VISIBLE_S", 1)
    heidi = tg_user(109)
    heidi.send("/start")
    heidi.press("Create wallet")
    key = str(wallet_keypair(Wallet.objects.get(trader__telegram_account__telegram_user_id=109)))
    heidi.send("/wallet")
    heidi.press("Export key")
    heidi.press("Yes, show the key")
    shown = [e for e in heidi.standin.log(109, "sendMessage") if key in e["text"]]
    assert len(shown) == 1 and "deleted in 1 s" in shown[0]["text"]
    assert heidi.standin.message(109, shown[0]["message_id"]) is not None  # on screen
    wait_for(lambda: heidi.standin.message(109, shown[0]["message_id"]) is None, timeout=30, message="the key deleted")
    assert [e["message_id"] for e in heidi.standin.log(109, "deleteMessage")] == [shown[0]["message_id"]]


def test_the_delete_task_reports_a_message_already_gone(telegram_settings, standin):
    from telegram_app.tasks import delete_message

    standin.send_text(109, "/start")
    sent = standin.world.messages[(109, 1)]
    assert delete_message.run(109, sent["message_id"]) is True
    assert standin.message(109, 1) is None
    assert delete_message.run(109, 1) is False  # already gone: logged, not retried


def _tcp_ports_of(pid: int) -> set[int]:
    """The local TCP ports of the sockets process `pid` holds (from /proc: its fds and the kernel's socket table)."""
    import os
    from pathlib import Path

    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_handlers_can_run_in_a_process_pool(telegram_settings, standin, transactional_db):
    """The handler runs in a pool process: the Postgres session that ran the handler's queries belongs to the pool's
    process, not to the test's (where the bot itself runs)."""
    import multiprocessing
    import os

    from django.db import connection

    from tests.fixtures.telegram import BotRunner, TelegramUser

    telegram_settings.TELEGRAM_BOT_PROCESSES = 1
    before = {p.pid for p in multiprocessing.active_children()}
    runner = BotRunner(standin).start()
    try:
        children = {p.pid for p in multiprocessing.active_children()} - before
        assert children  # the handler process is running
        grace = TelegramUser(standin, 110)
        assert "Welcome to Jarvis" in grace.send("/start")["text"]
        assert "Paper trading is on" in grace.press("Paper trading")["message"]["text"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT client_port FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND query LIKE %s", ["%trading_%"])
            sessions = {port for (port,) in cursor.fetchall()}
        # The pool process only opens a database session to handle an update; its last query read the trading tables.
        handler_pids = {pid for pid in children if _tcp_ports_of(pid) & sessions}
        assert handler_pids and os.getpid() not in handler_pids
    finally:
        runner.stop()
    assert TelegramAccount.objects.get(telegram_user_id=110).trader.settings.mode == "paper"


def test_stopping_after_the_bot_api_went_away_logs_no_traceback(telegram_settings, transactional_db, caplog):
    """`make run` stops the local stand-in and the bot together: the bot's last getUpdates then finds no server."""
    import logging

    from sandbox.telegram import BotApiStandin
    from tests.fixtures.telegram import BotRunner, TelegramUser

    standin = BotApiStandin().start()
    telegram_settings.TELEGRAM_API_URL = standin.url
    runner = BotRunner(standin).start()
    assert "/wallet" in TelegramUser(standin, 111).send("/help")["text"]
    caplog.clear()
    caplog.set_level(logging.INFO)
    standin.stop()
    runner.stop()
    assert not runner.bot.state["thread"].is_alive()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], caplog.text
    assert any("unreachable while stopping" in r.getMessage() for r in caplog.records)


def test_a_tap_whose_edit_waits_for_telegrams_budget_is_answered_first(tg_user):
    """Under a full bot-wide second the edit of a tapped screen waits for its slot (Telegram counts edits), but the
    tap's answer is no message: it goes at once, so the button stops spinning and Telegram never finds it too late."""
    from tests.conftest import wait_for
    from telegram_app import limits

    grace = tg_user(109)
    grace.send("/start")
    grace.send("/settings")
    screen = grace.last_with_buttons()
    data = next(d for text, d in grace.buttons(screen["message_id"]) if "Buy slip 1%" in text)
    limits.client().delete(f"{limits.PREFIX}sent:chat:{grace.chat_id}")  # its own chat's second is long past
    filled = [limits.reply_gate(chat_id=chat, member=f"reply:{chat}")[0] for chat in range(6000, 6031)]
    assert 0 in filled and filled[-1] > 0  # other chats' replies have filled this second of the bot's 30
    update = grace.standin.press(grace.user_id, grace.chat_id, screen["message_id"], data)
    wait_for(lambda: any(e["method"] == "editMessageText" for e in grace.standin.log(grace.chat_id)),
             message="the edit once the second moved on")
    methods = [e["method"] for e in grace.standin.log(grace.chat_id) if e["method"] != "sendMessage"]
    assert methods == ["answerCallbackQuery", "editMessageText"]  # answered before the edit went
    assert grace.standin.callback_answer(update["update_id"]) is not None
    assert "Buy slippage: 1.0%" in grace.standin.message(grace.chat_id, screen["message_id"])["text"]
    assert grace.standin.stats()["flood_429s"] == 0
