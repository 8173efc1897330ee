"""Trading events and monitoring alerts become outbox messages exactly once, crash or no crash."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import AlertEvent
from monitoring.services import alert_raise
from telegram_app.models import OutboxMessage, TelegramAccount
from telegram_app.notify import events_redeliver, on_alert, on_trading_event
from trading.events import event_publish
from trading.models import DomainEvent
from trading.services import trader_register, trading_settings_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(telegram_settings):
    trader = trader_register(name="tg:1")
    return TelegramAccount.objects.create(telegram_user_id=8801, chat_id=8801, trader=trader)


@pytest.fixture(autouse=True)
def _commit(django_capture_on_commit_callbacks, standin):
    """The test runs inside one transaction: run what trading queues for "on commit" when it would commit."""
    _commit.capture = django_capture_on_commit_callbacks
    _commit.standin = standin


def _publish(trader, kind="exit.filled", **payload):
    payload = {"symbol": "BONK", "reason": "tp", "leg": 0, "received_lamports": 250_000_000,
               "realised_pnl_lamports": 120_000_000, "remaining_size": 10, "plan": "TP 2x 50%", **payload}
    with _commit.capture(execute=True):
        return event_publish(kind=kind, trader=trader, payload=payload)


def test_an_exit_fill_becomes_one_message_even_when_delivered_again(account):
    event = _publish(account.trader)
    rows = OutboxMessage.objects.filter(chat_id=8801)
    assert [r.text.split(":")[0] for r in rows] == ["💰 Take-profit (leg 1) filled on BONK"]
    assert "+0.12 SOL" in rows[0].text
    on_trading_event(event.pk)  # a second delivery
    DomainEvent.objects.filter(pk=event.pk).update(delivered_at=None)  # even if the mark were lost
    on_trading_event(event.pk)
    assert OutboxMessage.objects.filter(chat_id=8801).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_paper_buy_filled_by_the_worker_reaches_its_trader_once(account, price_standin, celery_worker):
    """Through the real worker: the fill's event is delivered on its commit (the trades queue), the message goes out
    through the telegram queue to the Bot API stand-in, and nothing delivers it a second time."""
    from tests.conftest import wait_for
    from tests.fixtures.trading import mint_address
    from trading.models import Position
    from trading.services import position_open

    mint = mint_address()
    price_standin.set(mint, "0.0001", decimals=6)
    standin = _commit.standin
    standin.add_chat(8801)  # the trader has a chat with the bot
    position = position_open(trader=account.trader, mint=mint, amount_lamports=10**8)

    def bought():
        return [e for e in standin.log(8801, "sendMessage") if "✅ Bought" in (e.get("text") or "")]

    wait_for(bought, timeout=30, message="the fill notification")
    assert Position.objects.get(pk=position.pk).status == "open"
    event = DomainEvent.objects.get(kind="position.opened", trader=account.trader)
    assert event.delivered_at is not None
    on_trading_event(event.pk)  # delivered again: the claim holds
    DomainEvent.objects.filter(pk=event.pk).update(delivered_at=None, created_at=timezone.now() - timedelta(minutes=5))
    assert events_redeliver() == 1  # even a lost mark finds the message already written
    assert OutboxMessage.objects.filter(chat_id=8801, dedupe_key=f"event:{event.pk}").count() == 1
    wait_for(lambda: OutboxMessage.objects.get(dedupe_key=f"event:{event.pk}").status == "sent", message="sent")
    assert len(bought()) == 1


def test_events_a_crash_left_undelivered_are_swept(account):
    DomainEvent.objects.create(kind="order.failed", trader=account.trader,
                               payload={"side": "buy", "symbol": "WIF", "error": "venue down"})
    DomainEvent.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert events_redeliver() == 1
    assert events_redeliver() == 0
    assert "did not go through: venue down" in OutboxMessage.objects.get(chat_id=8801).text


def test_notifications_off_silences_fills_but_not_failures(account):
    trading_settings_update(trader=account.trader, notifications={"enabled": False})
    _publish(account.trader)
    _publish(account.trader, kind="order.failed", side="sell", error="slippage")
    assert [r.kind for r in OutboxMessage.objects.filter(chat_id=8801)] == ["order.failed"]


def test_events_of_traders_without_telegram_are_marked_and_skipped(telegram_settings):
    trader = trader_register(name="api only")
    event = _publish(trader)
    assert DomainEvent.objects.get(pk=event.pk).delivered_at is not None
    assert not OutboxMessage.objects.exists()


def test_alerts_reach_every_admin_once_per_state(telegram_settings):
    telegram_settings.TELEGRAM_ADMIN_IDS = [900001, 900002]
    with _commit.capture(execute=True):
        assert alert_raise(key="bags-auth", summary="bags.fm refused our API key.")
    rows = OutboxMessage.objects.filter(kind="alert").order_by("chat_id")
    assert [r.chat_id for r in rows] == [900001, 900002]
    assert "bags.fm refused our API key." in rows[0].text and rows[0].text.startswith("🚨")
    on_alert(AlertEvent.objects.get().pk)  # delivered twice
    assert OutboxMessage.objects.filter(kind="alert").count() == 2
