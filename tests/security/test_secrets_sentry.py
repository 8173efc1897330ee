"""Sentry events carry no secret in plain text: the product's own `init_sentry` (its scrubber and hooks) with an
in-process transport that keeps every envelope, then flows that fail while secrets are in reach: an unexpected
error during a key import (the pasted key sits in the frames' local variables), a request carrying credentials (its
log lines become breadcrumbs), an error log line, an exception with an API key in a local variable."""

from __future__ import annotations

import json
import logging

import base58
import pytest
import sentry_sdk
from solders.keypair import Keypair
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.transport import Transport

from tests.fixtures.security import ALICE_ID
from tests.fixtures.security import assert_no_secret, configured_secrets, wallet_secret_forms


class CapturingTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def text(self) -> str:
        out = []
        for envelope in self.envelopes:
            for item in envelope.items:
                payload = item.payload.json if item.payload.json is not None else item.payload.bytes
                out.append(json.dumps(payload, default=str) if not isinstance(payload, bytes) else payload.decode("utf-8", "replace"))
        return "\n".join(out)


@pytest.fixture
def sentry_events(monkeypatch, secret_settings):
    from jarvis.observability import init_sentry

    transport = CapturingTransport()
    real_init = sentry_sdk.init

    def init(*args, **kwargs):
        # The product's options (scrubber, before_send, breadcrumbs) as they are; only the logging integration, not
        # Django's, Celery's or threading's, which patch the process for good and would change the rest of the suite.
        kwargs.update(transport=transport, integrations=[LoggingIntegration(event_level=logging.ERROR)],
                      default_integrations=False, auto_enabling_integrations=False)
        return real_init(*args, **kwargs)

    monkeypatch.setattr(sentry_sdk, "init", init)
    init_sentry(dsn="https://public@sentry.example.invalid/1", environment="test", traces_sample_rate=1.0, release="t")
    yield transport
    sentry_sdk.get_client().close()
    real_init(dsn=None)  # back to a disabled client for the rest of the session


def test_an_unexpected_error_during_a_key_import_reaches_sentry_without_the_key(secret_settings, two_traders, sentry_events,
                                                                               monkeypatch):
    from telegram_app import services
    from trading import wallets

    def broken_store(**kwargs):  # the database going away half-way through an import
        raise RuntimeError("database connection lost")

    monkeypatch.setattr(wallets, "_store", broken_store)
    pasted = base58.b58encode(bytes(Keypair())).decode()
    services.conversation_set(telegram_user_id=ALICE_ID, state="import_key")
    answers = two_traders.say(ALICE_ID, pasted)
    assert "went wrong" in answers[-1].text  # the trader got the plain sentence
    sentry_sdk.flush()
    events = sentry_events.text()
    assert "database connection lost" in events, "the error did not reach Sentry: the probe proves nothing"
    assert_no_secret(events, extra=[*wallet_secret_forms(base58.b58decode(pasted)),
                                     *wallet_secret_forms(two_traders.secret_bytes)])


def test_api_errors_and_error_logs_reach_sentry_without_credentials(client, sentry_events, secret_settings, caplog):
    # A request carrying every credential a client could send, to an endpoint that fails.
    client.get("/api/v1/dashboard/summary/", HTTP_AUTHORIZATION=f"Bearer {secret_settings.METRICS_TOKEN}",
               HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret_settings.TELEGRAM_WEBHOOK_SECRET,
               HTTP_X_API_KEY=secret_settings.BAGS_API_KEY)
    logging.getLogger("trading.venues").error("venue call failed for %s/bot%s", "https://api.example",
                                              secret_settings.TELEGRAM_BOT_TOKEN)
    try:
        api_key = secret_settings.JUPITER_API_KEY  # noqa: F841 - a local variable Sentry would show
        raise ValueError("venue refused the request")
    except ValueError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()
    events = sentry_events.text()
    assert "venue refused the request" in events and "venue call failed" in events
    assert_no_secret(events, extra=configured_secrets())
