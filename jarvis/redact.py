"""Redaction by value: whatever a field or variable is called, a configured secret or a Solana secret key found in
text becomes "[Filtered]". Used on every Sentry event (frames' local variables included: a pasted key lives in a
variable called `text`) and on every log line the console handler writes.

Name-based scrubbing (jarvis.observability.SECRET_FIELDS) stays as the first line; this one catches the rest.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import base58
from django.conf import settings
from django.core.signals import setting_changed
from solders.keypair import Keypair

FILTERED = "[Filtered]"
_B58_WORD = re.compile(r"[1-9A-HJ-NP-Za-km-z]{64,90}")  # a 64-byte secret key is 64 to 88 base58 characters
_JSON_KEY = re.compile(r"\[\s*(?:\d{1,3}\s*,\s*){63}\d{1,3}\s*\]")  # a keypair file: 64 numbers
_MIN_LEN = 8  # shorter configured values would redact ordinary words


def _url_password(url: str | None) -> str | None:
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


_cached: list[str] | None = None


def _forget(**kwargs) -> None:
    global _cached
    _cached = None


setting_changed.connect(_forget)  # tests override settings; a deployment reads them once


def configured_secrets() -> list[str]:
    """The secret values of the running configuration (cached: reading them costs ~0.1 ms, a log line must not)."""
    global _cached
    if _cached is None:
        _cached = _read_secrets()
    return _cached


def _read_secrets() -> list[str]:
    values = [getattr(settings, name, None) for name in (
        "SECRET_KEY", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "BAGS_API_KEY", "JUPITER_API_KEY",
        "METRICS_TOKEN", "MONITORING_READINESS_TOKEN", "FLOWER_BASIC_AUTH",
        "VIBE_API_KEY", "BACKUP_S3_SECRET_ACCESS_KEY")]
    token = getattr(settings, "TELEGRAM_BOT_TOKEN", None) or ""
    values.append(token.partition(":")[2])  # the secret half of "<bot id>:<secret>"
    keys = getattr(settings, "WALLET_ENCRYPTION_KEYS", None) or ""
    values += [keys] + [part.partition(":")[2] for part in keys.split(",")]
    values.append(settings.DATABASES.get("default", {}).get("PASSWORD"))
    values += [_url_password(getattr(settings, name, None)) for name in ("REDIS_URL", "CELERY_BROKER_URL")]
    return sorted({v.strip() for v in values if isinstance(v, str) and len(v.strip()) >= _MIN_LEN}, key=len, reverse=True)


def is_secret_key(raw: bytes) -> bool:
    """64 bytes that are a Solana keypair (seed + its own public key); a transaction signature is not."""
    return len(raw) == 64 and bytes(Keypair.from_seed(raw[:32]).pubkey()) == raw[32:]


def _key_word(match: re.Match) -> str:
    word = match.group(0)
    try:
        return FILTERED if is_secret_key(base58.b58decode(word)) else word
    except ValueError:
        return word


def _key_array(match: re.Match) -> str:
    numbers = [int(n) for n in re.findall(r"\d+", match.group(0))]
    return FILTERED if all(n <= 255 for n in numbers) and is_secret_key(bytes(numbers)) else match.group(0)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    for secret in configured_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, FILTERED)
    if len(text) >= 64:
        text = _B58_WORD.sub(_key_word, text)
        text = _JSON_KEY.sub(_key_array, text)
    return text


def redact(value, secrets: list[str] | None = None):
    """`value` with every string in it (recursively through dicts, lists and tuples) redacted."""
    secrets = configured_secrets() if secrets is None else secrets
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, secrets) for v in value)
    return value


def sentry_before_send(event, hint):
    return redact(event)


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "correlation_id"}


class RedactFilter(logging.Filter):
    """Log records leave the process with secrets replaced: message, arguments, traceback and extra fields (Django
    logs the request object, whose text holds the path: the webhook's path holds its secret)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:  # a malformed log call (bad arguments) must fail where logging reports it, not here
            pass
        return True

    @staticmethod
    def _redact(record: logging.LogRecord) -> None:
        secrets = configured_secrets()
        message = record.getMessage()
        clean = redact_text(message, secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        for name, value in list(vars(record).items()):
            if name in _STANDARD or value is None or isinstance(value, (bool, int, float)):
                continue
            text = value if isinstance(value, str) else str(value)
            clean = redact_text(text, secrets)
            if clean != text:
                setattr(record, name, clean)
        if record.exc_info and record.exc_info[0] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            clean_trace = redact_text(trace, secrets)
            if clean_trace != trace:
                record.exc_info, record.exc_text = None, clean_trace
