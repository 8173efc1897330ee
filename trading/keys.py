"""Wallet secrets at rest: AES-256-GCM under WALLET_ENCRYPTION_KEYS, strict parsing of an imported secret key, and a
wallet's keypair decrypted in memory. Imports no model (trading.models.Wallet.keypair uses it); see trading.wallets.

Secrets are encrypted with AES-256-GCM (cryptography's AESGCM) under a key from WALLET_ENCRYPTION_KEYS
("kid:base64key,..."; the first key encrypts, every listed key decrypts). The stored blob is
nonce (12 bytes) + ciphertext + tag; the wallet's public key and the key id are authenticated as
associated data, so a blob copied onto another wallet row or relabelled with another key id fails to
decrypt instead of yielding a key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re

import base58
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from solders.keypair import Keypair

from trading.errors import InvalidInput, WalletError

_KID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_NONCE = 12


def encryption_keys() -> list[tuple[str, bytes]]:
    """The configured (key id, 32-byte key) pairs, first = current. Raises WalletError if unset or malformed."""
    text = (getattr(settings, "WALLET_ENCRYPTION_KEYS", None) or "").strip()
    if not text:
        raise WalletError("Wallets are not available: the operator has not set WALLET_ENCRYPTION_KEYS.", "no_wallet_key")
    keys: list[tuple[str, bytes]] = []
    for item in text.split(","):
        kid, sep, encoded = item.strip().partition(":")
        if not sep or not _KID.match(kid):
            raise WalletError("WALLET_ENCRYPTION_KEYS is malformed: each entry must be keyid:base64key.", "bad_wallet_key")
        try:
            key = base64.b64decode(encoded.strip().replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise WalletError(f"WALLET_ENCRYPTION_KEYS entry {kid!r} is not base64.", "bad_wallet_key") from None
        if len(key) != 32:
            raise WalletError(f"WALLET_ENCRYPTION_KEYS entry {kid!r} must be 32 bytes (AES-256).", "bad_wallet_key")
        if any(existing == kid for existing, _ in keys):
            raise WalletError(f"WALLET_ENCRYPTION_KEYS names key id {kid!r} twice.", "bad_wallet_key")
        keys.append((kid, key))
    return keys


def _aad(public_key: str, kid: str) -> bytes:
    return f"jarvis-wallet:v1:{public_key}:{kid}".encode()


def secret_encrypt(*, secret: bytes, public_key: str) -> tuple[str, bytes]:
    kid, key = encryption_keys()[0]
    nonce = os.urandom(_NONCE)
    return kid, nonce + AESGCM(key).encrypt(nonce, secret, _aad(public_key, kid))


def secret_decrypt(*, blob: bytes, public_key: str, kid: str) -> bytes:
    keys = dict(encryption_keys())
    if kid not in keys:
        raise WalletError(f"The key {kid!r} this wallet is encrypted under is not configured.", "wallet_key_missing")
    blob = bytes(blob)
    try:
        return AESGCM(keys[kid]).decrypt(blob[:_NONCE], blob[_NONCE:], _aad(public_key, kid))
    except InvalidTag:
        raise WalletError("A wallet secret failed authentication; it was not decrypted.", "wallet_tampered") from None


def secret_parse(text: str) -> Keypair:
    """A Keypair from a base58 64-byte secret key or a JSON array of 64 bytes (Solana CLI format); strict."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Send the wallet's secret key: base58 text or a JSON array of 64 numbers.", "bad_secret")
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            raise InvalidInput("That JSON array is not valid JSON.", "bad_secret") from None
        if not (
            isinstance(values, list)
            and len(values) == 64
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values)
        ):
            raise InvalidInput("A JSON secret key must be an array of exactly 64 numbers from 0 to 255.", "bad_secret")
        raw = bytes(values)
    else:
        try:
            raw = base58.b58decode(text)
        except ValueError:
            raise InvalidInput("That is not base58 text; a secret key uses only base58 characters.", "bad_secret") from None
        if len(raw) != 64:
            raise InvalidInput(f"A secret key is 64 bytes; that text decodes to {len(raw)}.", "bad_secret")
    try:
        keypair = Keypair.from_bytes(raw)
    except ValueError:
        raise InvalidInput("Those 64 bytes are not a valid Solana keypair.", "bad_secret") from None
    if bytes(keypair.pubkey()) != raw[32:]:
        raise InvalidInput("That secret key's public half does not match its private half.", "bad_secret")
    return keypair


def wallet_keypair(wallet) -> Keypair:
    """The wallet's solders Keypair, decrypted in memory only. Never log or store what this returns."""
    raw = secret_decrypt(blob=wallet.encrypted_secret, public_key=wallet.public_key, kid=wallet.key_id)
    keypair = Keypair.from_bytes(raw)
    if str(keypair.pubkey()) != wallet.public_key:
        raise WalletError("A wallet's secret does not match its public key.", "wallet_mismatch")
    return keypair
