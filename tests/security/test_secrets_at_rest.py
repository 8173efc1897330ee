"""No secret in plain text in the logs, the admin, the API answers or a backup.

Every secret is configured with a distinctive value (`secret_settings`), flows that use them run (a key pasted into
the bot and exported, a webhook with its secret, outbound Telegram calls with the bot token, venue and price calls
with their API keys, failing as well as succeeding), then each surface is scanned. Sentry events: test_secrets_sentry.
"""

from __future__ import annotations

import io
import logging
import subprocess

import pytest

from tests.fixtures.security import ALICE_ID, assert_no_secret, configured_secrets, texts, wallet_secret_forms


@pytest.fixture
def captured_logs():
    """What the configured console handler (JSON, correlation and redaction filters) writes, at every level."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    buffer = io.StringIO()
    old_stream = handler.setStream(buffer)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield buffer
    root.setLevel(old_level)
    handler.setStream(old_stream)


def _flows(desk, client, standin_url: str, price_standin) -> None:
    """Everything that handles a secret, each once in a way that fails and once in a way that works."""
    import base58
    from django.conf import settings
    from solders.keypair import Keypair

    from telegram_app import botapi, services
    from trading.prices import prices_refresh
    from trading.venues.bags import BagsVenue

    # The bot: a key pasted at the import step (a good one and a bad one), then an export of Alice's wallet.
    services.conversation_set(telegram_user_id=ALICE_ID, state="import_key")
    desk.say(ALICE_ID, base58.b58encode(bytes(Keypair())).decode())
    services.conversation_set(telegram_user_id=ALICE_ID, state="import_key")
    desk.say(ALICE_ID, desk.secret_b58[:-3] + "abc")
    exported = texts(desk.tap(ALICE_ID, "wx", desk.wallet.pk))
    assert any(desk.secret_b58 in t for t in exported), "the export flow did not run: the scan would prove nothing"
    # A key pasted outside the import step, in a group.
    desk.say(ALICE_ID, f"here {base58.b58encode(bytes(Keypair())).decode()}", chat_type="group")
    # The webhook: wrong secret in the path, wrong header, right ones.
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    update = {"update_id": 5551, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                                             "text": desk.secret_b58}}
    client.post(f"/telegram/{secret}x/", update, content_type="application/json",
                HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret)
    client.post(f"/telegram/{secret}/", update, content_type="application/json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="no")
    assert client.post(f"/telegram/{secret}/", update, content_type="application/json",
                       HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret).status_code == 200
    # No bot runs here: the update stays stored, waiting (sealed, telegram_app.services), through the scans below.
    from telegram_app.models import InboundUpdate

    assert InboundUpdate.objects.filter(update_id=5551, processed_at__isnull=True).exists()
    # Outbound Bot API calls carry the token in the URL: one that works, one Telegram refuses.
    settings.TELEGRAM_API_URL = standin_url
    assert botapi.call("getMe", {})
    with pytest.raises(botapi.BotApiError):
        botapi.call("sendMessage", {"chat_id": -1, "text": "to a chat that does not exist"})
    # Jupiter prices with the API key, answering and failing.
    price_standin.set(desk.mint, "0.0002")
    prices_refresh(mints=[desk.mint])
    price_standin.jupiter_status = 500
    prices_refresh(mints=[desk.mint])
    # bags.fm with its API key against a server that refuses the call.
    venue = BagsVenue(base_url=price_standin.url, api_key=settings.BAGS_API_KEY)
    with pytest.raises(Exception):
        venue.quote(input_mint="So11111111111111111111111111111111111111112", output_mint=desk.mint, amount=10**8,
                    slippage_bps=100)
    logging.getLogger("trading.venues").exception("with a traceback too", exc_info=RuntimeError(
        f"url {settings.TELEGRAM_API_URL}/bot{settings.TELEGRAM_BOT_TOKEN}/sendMessage key {desk.secret_b58}"))


@pytest.fixture
def leaks(secret_settings, two_traders):
    """Everything a scan must not find: the configured secrets and every form of the wallet secrets in play."""
    return [*configured_secrets(), *wallet_secret_forms(two_traders.secret_bytes)]


def test_logs_of_flows_that_use_every_secret_hold_none(leaks, two_traders, client, standin, price_standin,
                                                        captured_logs, settings):
    settings.TELEGRAM_COMMAND_BURST = 1000
    _flows(two_traders, client, standin.url, price_standin)
    logs = captured_logs.getvalue()
    assert "update from user" not in logs or "went wrong" not in logs  # no unexpected error on the way
    assert "wallet" in logs and "jupiter price fetch failed" in logs and "[Filtered]" in logs, logs[-2000:]
    assert_no_secret(logs, extra=leaks)


def test_admin_list_and_change_pages_hold_no_secret(leaks, two_traders, client, standin, price_standin,
                                                    admin_client):
    from django.contrib import admin
    from django.urls import reverse

    _flows(two_traders, client, standin.url, price_standin)
    pages = 0
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        listing = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert listing.status_code == 200, meta.label
        assert_no_secret(listing.content.decode(), extra=leaks)
        for obj in model.objects.all()[:3]:
            page = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
            assert page.status_code == 200, meta.label
            assert_no_secret(page.content.decode(), extra=leaks)
            pages += 1
    assert pages >= 10  # wallets, positions, orders, settings, accounts, updates... were all there to render


def test_api_answers_hold_no_secret(leaks, two_traders, client, standin, price_standin, admin_client, secret_settings,
                                    readiness_settings, clean_redis):
    _flows(two_traders, client, standin.url, price_standin)
    answers = [admin_client.get(path).content.decode() for path in (
        "/api/v1/health/", "/api/v1/health/ready/", "/api/v1/dashboard/summary/", "/api/v1/dashboard/positions/",
        "/api/v1/dashboard/trades/", "/api/v1/dashboard/alerts/", "/api/v1/dashboard/uptime/",
        "/api/v1/dashboard/budgets/", "/api/schema/?format=json")]
    answers.append(client.get(f"/api/v1/health/ready/?token={secret_settings.MONITORING_READINESS_TOKEN}").content.decode()
                   .replace(secret_settings.MONITORING_READINESS_TOKEN, ""))  # the caller's own token, if echoed
    answers.append(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {secret_settings.METRICS_TOKEN}").content.decode())
    assert str(two_traders.position.pk) in answers[3] and two_traders.mint in answers[3]  # real data was served
    for answer in answers:
        assert_no_secret(answer, extra=leaks)


@pytest.mark.usefixtures("backup_settings")
def test_a_backup_of_a_desk_that_used_every_secret_holds_none(leaks, two_traders, client, standin, price_standin,
                                                              settings, transactional_db):
    """The dump is compressed (pg_dump custom format): restored to SQL text before the scan."""
    from backups import pg
    from backups.models import BackupRecord
    from backups.services import backup_create

    _flows(two_traders, client, standin.url, price_standin)
    record = backup_create(kind=BackupRecord.Kind.MANUAL)
    artefact = settings.BACKUP_DIR / record.location
    sql = subprocess.run([pg.pg_bin("pg_restore"), "--file=-", str(artefact)], capture_output=True, text=True,
                         check=True).stdout
    assert two_traders.wallet.public_key in sql and "trading_wallet" in sql  # the wallet is in it, encrypted
    assert_no_secret(sql, extra=leaks)
    assert_no_secret(artefact.read_bytes().decode("latin-1"), extra=leaks)  # nor in the raw bytes
