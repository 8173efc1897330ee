"""Redaction by value (jarvis/redact.py): keys and configured secrets go, what operators need to read stays."""

from __future__ import annotations

import json

import base58
from solders.keypair import Keypair

from jarvis.redact import FILTERED, redact, redact_text


def test_a_keypair_in_either_form_is_filtered_but_a_signature_and_an_address_stay(settings):
    keypair = Keypair()
    as_b58, as_json = base58.b58encode(bytes(keypair)).decode(), json.dumps(list(bytes(keypair)))
    signature = str(keypair.sign_message(b"a transaction"))  # 64 bytes in base58 too, but not a keypair
    text = f"import {as_b58} or {as_json}; tx {signature} by {keypair.pubkey()}"
    clean = redact_text(text)
    assert as_b58 not in clean and as_json not in clean and clean.count(FILTERED) == 2
    assert signature in clean and str(keypair.pubkey()) in clean


def test_configured_secrets_are_filtered_and_a_changed_setting_is_seen(settings):
    settings.JUPITER_API_KEY = "first-jupiter-key-0123456789"
    assert redact({"url": "x?key=first-jupiter-key-0123456789", "n": 3}) == {"url": f"x?key={FILTERED}", "n": 3}
    settings.JUPITER_API_KEY = "second-jupiter-key-0123456789"  # rotated: the new value is known at once
    assert redact_text("key second-jupiter-key-0123456789") == f"key {FILTERED}"
    assert redact_text("short values like ok stay") == "short values like ok stay"


def test_a_malformed_log_call_is_not_made_worse_by_the_filter():
    import logging

    from jarvis.redact import RedactFilter

    record = logging.LogRecord("x", logging.INFO, "x.py", 1, "two %s %s", ("one",), None)
    assert RedactFilter().filter(record) is True  # logging itself reports the bad call when it formats the record


def test_a_keypair_in_hex_or_base64_and_a_seed_phrase_are_filtered_but_checksums_and_words_stay(settings):
    import base64
    import hashlib

    from mnemonic import Mnemonic

    keypair = Keypair()
    raw = bytes(keypair)
    phrase = Mnemonic("english").to_mnemonic(bytes(range(32)))
    forms = [raw.hex(), "0x" + raw.hex(), base64.b64encode(raw).decode(), phrase]
    checksum = hashlib.sha256(b"a backup").hexdigest()  # 32 bytes of hex: what backups log, not a key
    signature = str(keypair.sign_message(b"a transaction"))
    words = "abandon ability able about above absent absorb abstract absurd abuse access accident"  # no checksum
    clean = redact_text(f"keys {' and '.join(forms)}; sha256 {checksum}, tx {signature}, {words}")
    assert not any(form in clean for form in forms) and clean.count(FILTERED) == len(forms), clean
    assert checksum in clean and signature in clean and words in clean
