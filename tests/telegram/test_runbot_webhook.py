"""One bot at a time; the webhook checks its secret, stores before answering and drops duplicates."""

import json

import pytest
from django.core.management import CommandError, call_command

from telegram_app.models import InboundUpdate, TelegramAccount
from tests.conftest import wait_for
from tests.fixtures.telegram import BotRunner

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "test-webhook-secret-0123456789"


def test_a_second_runbot_refuses_to_start(bot_runner):
    with pytest.raises(CommandError, match="Another runbot is already running"):
        call_command("runbot")


def _post(client, payload, *, secret=SECRET, header=SECRET):
    return client.post(f"/telegram/{secret}/", data=json.dumps(payload), content_type="application/json",
                       headers={"X-Telegram-Bot-Api-Secret-Token": header} if header else {})


def _update(standin, user_id, text):
    """An update as Telegram would deliver it to the webhook (taken from the stand-in, not polled)."""
    update = standin.send_text(user_id, text)
    standin.world.updates.clear()
    return update


def test_webhook_checks_the_secret_stores_once_and_the_bot_processes_it(client, telegram_settings, standin):
    update = _update(standin, 301, "/start")
    assert _post(client, update, header="wrong").status_code == 403  # the right path, a wrong header
    assert _post(client, update, secret="wrong-path-0123456789").status_code == 403  # a wrong path, the right header
    assert _post(client, update, secret=SECRET[:-1] + "é").status_code == 403  # non-ASCII is refused, not a 500
    assert _post(client, update, header=None).status_code == 403
    assert not InboundUpdate.objects.exists()
    assert _post(client, update).status_code == 200
    assert _post(client, update).status_code == 200  # Telegram retrying: answered, dropped
    assert InboundUpdate.objects.count() == 1
    assert _post(client, {"no": "update id"}).status_code == 400

    # The web role stored it; the bot process was down. It starts later and loses nothing.
    runner = BotRunner(standin, mode="webhook").start()
    try:
        wait_for(lambda: TelegramAccount.objects.filter(telegram_user_id=301).exists(), message="update processed")
        wait_for(lambda: InboundUpdate.objects.filter(processed_at__isnull=False).count() == 1, message="marked done")
        second = _update(standin, 301, "/help")
        assert _post(client, second).status_code == 200
        wait_for(lambda: any("/positions" in e["text"] for e in standin.log(301, "sendMessage")), message="help answered")
    finally:
        runner.stop()
    assert len([e for e in standin.log(301, "sendMessage") if "Welcome" in e["text"]]) == 1


def test_set_webhook_registers_url_and_secret(telegram_settings, standin):
    telegram_settings.TELEGRAM_WEBHOOK_URL = "https://desk.example.org"
    call_command("set_webhook")
    assert standin.world.webhook == {"url": f"https://desk.example.org/telegram/{SECRET}/", "secret_token": SECRET}
    call_command("set_webhook", "--delete")
    assert standin.world.webhook["url"] == ""
    telegram_settings.TELEGRAM_WEBHOOK_SECRET = "short"
    with pytest.raises(CommandError, match="at least 16"):
        call_command("set_webhook")
