"""No configured secret (nor a Solana secret key) reaches the provider, whatever carries it: a log line a tool
returns (written through logging, or by a writer that never redacted), or the admin's own question."""

from __future__ import annotations

import base64
import re
import time

import base58
import pytest
from solders.keypair import Keypair

from tests.assistant.conftest import ask

pytestmark = pytest.mark.django_db(transaction=True)

SECRETS = {
    "SECRET_KEY": "django-secret-key-for-the-redaction-test-0123456789",
    "TELEGRAM_BOT_TOKEN": "123456789:AAE-bot-token-secret-part-abcdefghij",
    "TELEGRAM_WEBHOOK_SECRET": "webhook-secret-0123456789abcdef",
    "BAGS_API_KEY": "bags-api-key-0123456789abcdef",
    "JUPITER_API_KEY": "jupiter-api-key-0123456789abcdef",
    "METRICS_TOKEN": "metrics-token-0123456789abcdef",
    "MONITORING_READINESS_TOKEN": "readiness-token-0123456789abcdef",
    "VIBE_API_KEY": "sk-ant-vibe-key-0123456789abcdef",
    "BACKUP_S3_SECRET_ACCESS_KEY": "s3-secret-access-key-0123456789abcdef",
    "WALLET_ENCRYPTION_KEYS": "k1:" + base64.b64encode(b"w" * 32).decode(),
}
NOT_SECRETS = {"SECRET_KEY_FALLBACKS", "VIBE_DAILY_TOKENS", "VIBE_MAX_TOKENS", "AXES_PASSWORD_FORM_FIELD",
               "AUTH_PASSWORD_VALIDATORS", "PASSWORD_HASHERS", "PASSWORD_RESET_TIMEOUT", "EMAIL_HOST_PASSWORD"}


def test_the_list_covers_every_secret_setting(settings):
    looks_secret = {name for name in dir(settings) if name.isupper()
                    and re.search(r"SECRET|TOKEN|API_KEY|_KEYS$|PASSWORD", name)} - NOT_SECRETS
    assert looks_secret <= set(SECRETS), f"add to SECRETS (and jarvis.redact): {looks_secret - set(SECRETS)}"


def test_secrets_in_log_lines_a_tool_returns_never_reach_the_provider(vibe, vibe_settings, caplog):
    import logging

    from assistant.models import ToolCall
    from jarvis.logbuffer import log_line_append

    for name, value in SECRETS.items():
        setattr(vibe_settings, name, value)
    wallet_key = base58.b58encode(bytes(Keypair())).decode()
    values = [*SECRETS.values(), SECRETS["TELEGRAM_BOT_TOKEN"].partition(":")[2], wallet_key]
    log = logging.getLogger("trading.venues.test")
    for name, value in [*SECRETS.items(), ("wallet", wallet_key)]:
        log.warning("leaky line through logging: %s=%s", name, value)
        # A writer that never redacted (another tool, an old process): the conversation redacts on its own.
        log_line_append(at=time.time(), level="WARNING", logger="raw.writer", message=f"leaky raw line: {name}={value}")

    turn, message = ask(vibe.bot, f"/vibe search the logs for 'leaky' (my key is {SECRETS['VIBE_API_KEY']})")

    assert ToolCall.objects.get(turn=turn).tool == "log_search"
    received = vibe.llm.received_text()
    assert received.count("leaky raw line") == len(SECRETS) + 1  # the lines did reach the provider...
    assert received.count("leaky line through logging") == len(SECRETS) + 1
    assert "[Filtered]" in received
    for value in values:  # ...without a single secret
        assert value not in received
        assert value not in turn.question and value not in turn.answer and value not in message["text"]

