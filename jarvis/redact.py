"""Redaction by value: whatever a field or variable is called, a configured secret or a Solana secret key found in
text becomes "[Filtered]". Used on every Sentry event (frames' local variables included: a pasted key lives in a
variable called `text`) and on every log line the console handler writes.

Name-based scrubbing (jarvis.observability.SECRET_FIELDS) stays as the first line; this one catches the rest.
"""

from __future__ import annotations

import base64
import logging
import re
from urllib.parse import urlsplit

import base58
from django.conf import settings
from django.core.signals import setting_changed
from mnemonic import Mnemonic
from solders.keypair import Keypair

FILTERED = "[Filtered]"
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


# --- secrets found in free text ------------------------------------------------------------------------------
# Each form a wallet or a tool exports a key in. A word is cut out of the text at boundaries its own alphabet
# does not continue over, so a key inside a sentence or a URL is found and a longer run of characters is not.
_B58_KEY = re.compile(r"(?<![0-9A-Za-z])[1-9A-HJ-NP-Za-km-z]{64,90}(?![0-9A-Za-z])")
_HEX_KEY = re.compile(r"(?<![0-9A-Za-z])(?:0[xX])?([0-9a-fA-F]{128}|[0-9a-fA-F]{64})(?![0-9A-Za-z])")
_B64_KEY = re.compile(r"(?<![0-9A-Za-z+/_-])(?:[0-9A-Za-z+/_-]{86}(?:==)?|[0-9A-Za-z+/_-]{43}=)(?![0-9A-Za-z+/=_-])")
_JSON_KEY = re.compile(r"\[\s*(?:\d{1,3}\s*,\s*){31}(?:(?:\d{1,3}\s*,\s*){32})?\d{1,3}\s*\]")  # 32 or 64 numbers
_WORD = re.compile(r"[A-Za-z]+")
_PHRASE_LENGTHS = (24, 21, 18, 15, 12)  # BIP-39 phrases, longest first
_LONG_WORD = re.compile(r"[0-9A-Za-z+/_-]{43}")  # no key form is shorter: a line without one needs no other search
_mnemonic = None
_wordset: frozenset[str] = frozenset()


def _bip39():
    global _mnemonic, _wordset
    if _mnemonic is None:
        _mnemonic = Mnemonic("english")
        _wordset = frozenset(_mnemonic.wordlist)
    return _mnemonic


def _seed_phrases(text: str) -> list[tuple[int, int]]:
    """Spans of BIP-39 phrases: 12 to 24 words of the English list in a row (numbering, commas and line breaks
    between them allowed) whose checksum holds, so ordinary words that happen to be on the list stay."""
    _bip39()
    known = _wordset
    if sum(1 for word in _WORD.findall(text.lower()) if word in known) < 12:  # the usual line stops here
        return []
    words = list(_WORD.finditer(text))
    spans: list[tuple[int, int]] = []
    run: list[re.Match] = []
    for match in [*words, None]:
        if match is not None and match.group(0).lower() in known:
            run.append(match)
            continue
        start = 0
        while len(run) - start >= 12:
            for n in _PHRASE_LENGTHS:
                window = run[start:start + n]
                if len(window) == n and _bip39().check(" ".join(m.group(0).lower() for m in window)):
                    spans.append((window[0].start(), window[-1].end()))
                    start += n
                    break
            else:
                start += 1
        run = []
    return spans


def _decoded(kind: str, word: str) -> bytes | None:
    try:
        if kind == "b58":
            return base58.b58decode(word)
        if kind == "hex":
            return bytes.fromhex(word[2:] if word[:2] in ("0x", "0X") else word)
        padded = word.rstrip("=") + "=" * (-len(word.rstrip("=")) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError:
        return None


def secret_spans(text: str, *, keypairs_only: bool = False) -> list[tuple[int, int]]:
    """Where private keys and seed phrases sit in `text`: base58, hex (with or without 0x), base64 and JSON arrays
    of 64 bytes or (but base58, where 32 bytes is an address) 32-byte seeds, and BIP-39 phrases of 12 to 24 words.

    With `keypairs_only`, only 64 bytes that are a keypair count, and phrases: what log redaction uses, so a
    transaction signature or a checksum in a log stays readable. Without it any 64 (or 32) bytes in those forms
    count: what the bot deletes from chats, where a signature lost is cheaper than a key left."""
    if len(text) < 43:
        return []
    found: list[tuple[int, int]] = []
    forms = (("b58", _B58_KEY), ("hex", _HEX_KEY), ("b64", _B64_KEY)) if _LONG_WORD.search(text) else ()
    for kind, pattern in forms:
        for match in pattern.finditer(text):
            raw = _decoded(kind, match.group(0))
            if raw is None or len(raw) not in (32, 64) or (kind == "b58" and len(raw) != 64):
                continue
            if is_secret_key(raw) if keypairs_only else True:
                found.append(match.span())
    for match in _JSON_KEY.finditer(text) if "[" in text else ():
        numbers = [int(n) for n in re.findall(r"\d+", match.group(0))]
        if all(n <= 255 for n in numbers) and (is_secret_key(bytes(numbers)) if keypairs_only else True):
            found.append(match.span())
    return found + _seed_phrases(text)


def contains_secret(text: str) -> bool:
    """A private key or a seed phrase in any form `secret_spans` knows (the bot deletes such a message)."""
    return bool(secret_spans(text or ""))


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span (overlapping ones merged: a key can read as two forms) replaced by FILTERED."""
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            last = max(last, end)
            continue
        out += [text[last:start], FILTERED]
        last = end
    return "".join(out) + text[last:]


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    for secret in configured_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, FILTERED)
    spans = secret_spans(text, keypairs_only=True)
    return _cut(text, spans) if spans else text


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
