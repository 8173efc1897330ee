"""Sentry: errors and traces from web, workers and the bot, with personal data and secrets scrubbed."""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, DEFAULT_PII_DENYLIST, EventScrubber

from jarvis.redact import sentry_before_send

# Field names whose values never leave the process.
SECRET_FIELDS = [
    "secret",
    "secret_key",
    "private_key",
    "privkey",
    "seed",
    "seed_phrase",
    "mnemonic",
    "keypair",
    "encrypted_secret",
    "bot_token",
    "telegram_bot_token",
    "api_key",
    "x-api-key",
    "x_api_key",
    "wallet_encryption_key",
    "wallet_encryption_keys",
    "x-telegram-bot-api-secret-token",
    "webhook_secret",
]


def _drop_breadcrumb_urls(crumb, hint):
    # Bot API URLs carry the token; HTTP breadcrumbs are dropped rather than trusted to a regex.
    if crumb.get("category") in {"httplib", "httpx"}:
        return None
    return crumb


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float, release: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=f"jarvis@{release}",
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=False)],
        event_scrubber=EventScrubber(
            denylist=DEFAULT_DENYLIST + SECRET_FIELDS, pii_denylist=DEFAULT_PII_DENYLIST, recursive=True
        ),
        before_breadcrumb=_drop_breadcrumb_urls,
        # By value too: a pasted key in a frame's local variable `text`, a token inside a logged URL.
        before_send=sentry_before_send,
        before_send_transaction=sentry_before_send,
        max_request_body_size="never",
    )
