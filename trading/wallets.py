"""Custodial wallets: generate, import, export, rotate (the encryption of their secrets at rest is trading.keys).

Decrypted secrets live only in memory: nothing here logs, renders or
returns one except `wallet_export`, which exists for the trader's explicit export flow.
"""

from __future__ import annotations

import logging
import re

import base58
from django.db import IntegrityError, transaction
from solders.keypair import Keypair

from trading.errors import InvalidInput, NotFound
from trading.events import event_publish
from trading.keys import encryption_keys, secret_decrypt, secret_encrypt, secret_parse, wallet_keypair
from trading.models import Trader, Wallet
from trading.second_factor import second_factor_check

logger = logging.getLogger(__name__)


NAME_MAX = 32
_NAME = re.compile(r"^[\w .'-]{1,32}$")


def wallet_name_parse(text: str) -> str:
    """A wallet name: 1 to 32 letters, digits, spaces, dots, dashes or apostrophes."""
    name = " ".join(str(text or "").split())
    if not _NAME.match(name):
        raise InvalidInput(f"A wallet name is 1 to {NAME_MAX} letters, digits, spaces, dots or dashes.", "bad_wallet_name")
    return name


def _store(*, trader: Trader, keypair: Keypair, name: str = "") -> Wallet:
    public_key = str(keypair.pubkey())
    name = wallet_name_parse(name) if name else ""
    kid, blob = secret_encrypt(secret=bytes(keypair), public_key=public_key)
    try:
        with transaction.atomic():
            Trader.objects.select_for_update().filter(id=trader.id).first()  # one writer of a trader's wallet list
            count = Wallet.objects.filter(trader=trader).count()
            active = not Wallet.objects.filter(trader=trader, active=True).exists()
            wallet = Wallet.objects.create(trader=trader, public_key=public_key, encrypted_secret=blob, key_id=kid,
                                           name=name or f"Wallet {count + 1}", active=active)
    except IntegrityError:
        raise InvalidInput("That wallet is already registered here.", "wallet_exists") from None
    logger.info("wallet %s stored for trader %s", public_key, trader.pk)
    return wallet


def wallet_create(*, trader: Trader, name: str = "") -> Wallet:
    """A new wallet; the trader's first becomes the active one."""
    return _store(trader=trader, keypair=Keypair(), name=name)


def wallet_import(*, trader: Trader, secret: str, name: str = "") -> Wallet:
    return _store(trader=trader, keypair=secret_parse(secret), name=name)


def _owned(*, trader: Trader, wallet_id: int) -> Wallet:
    wallet = Wallet.objects.filter(id=wallet_id, trader=trader).first()
    if wallet is None:
        raise NotFound("You have no wallet with that number.", "wallet_not_found")
    return wallet


def wallet_activate(*, trader: Trader, wallet_id: int) -> Wallet:
    """Make one of the trader's wallets the active one (the one new buys use); the others stay as they are."""
    wallet = _owned(trader=trader, wallet_id=wallet_id)
    with transaction.atomic():
        Trader.objects.select_for_update().filter(id=trader.id).first()
        Wallet.objects.filter(trader=trader, active=True).exclude(id=wallet.id).update(active=False)
        Wallet.objects.filter(id=wallet.id).update(active=True)
    wallet.active = True
    logger.info("wallet %s made active by trader %s", wallet.public_key, trader.pk)
    return wallet


def wallet_rename(*, trader: Trader, wallet_id: int, name: str) -> Wallet:
    wallet = _owned(trader=trader, wallet_id=wallet_id)
    wallet.name = wallet_name_parse(name)
    wallet.save(update_fields=["name"])
    return wallet


def wallet_export(*, trader: Trader, wallet_id: int, code: str | None = None) -> str:
    """The wallet's base58 secret key for the trader's export flow. Audit-logged and published without it.

    With the trader's second factor on, `code` must be a current, unused TOTP code or an unused recovery code
    (trading.second_factor.second_factor_check); it is spent before the key is decrypted."""
    wallet = _owned(trader=trader, wallet_id=wallet_id)
    second_factor_check(trader=trader, code=code)
    secret = base58.b58encode(bytes(wallet_keypair(wallet))).decode()
    with transaction.atomic():
        event_publish(kind="wallet.exported", trader=trader, payload={"wallet_id": wallet.id, "public_key": wallet.public_key})
    logger.warning("wallet %s exported by trader %s", wallet.public_key, trader.pk)
    return secret


def wallet_rotate_key(*, wallet_id: int) -> bool:
    """Re-encrypt one wallet under the current key. Compare-and-swap on the old blob: never loses a write.

    Returns True if this call re-encrypted it, False if it was already current or changed underneath.
    """
    wallet = Wallet.objects.get(id=wallet_id)
    kid = encryption_keys()[0][0]
    if wallet.key_id == kid:
        return False
    old_blob = bytes(wallet.encrypted_secret)
    secret = secret_decrypt(blob=old_blob, public_key=wallet.public_key, kid=wallet.key_id)
    new_kid, new_blob = secret_encrypt(secret=secret, public_key=wallet.public_key)
    updated = Wallet.objects.filter(id=wallet.id, key_id=wallet.key_id, encrypted_secret=old_blob).update(
        key_id=new_kid, encrypted_secret=new_blob
    )
    return updated == 1


def wallets_rotate_all() -> dict:
    """Re-encrypt every wallet not under the current key, one row at a time (no table lock, no downtime)."""
    kid = encryption_keys()[0][0]
    rotated = skipped = 0
    for wallet_id in Wallet.objects.exclude(key_id=kid).values_list("id", flat=True).iterator():
        if wallet_rotate_key(wallet_id=wallet_id):
            rotated += 1
        else:
            skipped += 1
    remaining = Wallet.objects.exclude(key_id=kid).count()
    return {"key_id": kid, "rotated": rotated, "skipped": skipped, "remaining": remaining}
