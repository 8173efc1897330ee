"""Writes of the telegram app: accounts, conversation state, mint references, one-time buttons, webhook intake."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from telegram_app import limits
from telegram_app.models import ConversationState, InboundUpdate, MintRef, TelegramAccount
from trading.services import trader_register


def account_register(*, telegram_user_id: int, chat_id: int, username: str = "", first_name: str = "") -> tuple[TelegramAccount, bool]:
    """The account of this Telegram user, created with its trader on first contact. (account, created)."""
    account = TelegramAccount.objects.filter(telegram_user_id=telegram_user_id).first()
    if account is not None:
        TelegramAccount.objects.filter(pk=account.pk).update(last_seen_at=timezone.now(), username=username[:64])
        return account, False
    try:
        with transaction.atomic():
            trader = trader_register(name=f"tg:{telegram_user_id} {first_name}".strip()[:120])
            account = TelegramAccount.objects.create(
                telegram_user_id=telegram_user_id, chat_id=chat_id, trader=trader, username=username[:64],
                first_name=first_name[:128], last_seen_at=timezone.now(),
            )
    except IntegrityError:  # two first messages raced; the other one registered it
        return TelegramAccount.objects.get(telegram_user_id=telegram_user_id), False
    return account, True


def conversation_get(*, telegram_user_id: int) -> tuple[str, dict]:
    row = ConversationState.objects.filter(telegram_user_id=telegram_user_id).values_list("state", "data").first()
    return (row[0], row[1] or {}) if row else ("", {})


def conversation_set(*, telegram_user_id: int, state: str, data: dict | None = None) -> None:
    ConversationState.objects.update_or_create(telegram_user_id=telegram_user_id, defaults={"state": state, "data": data or {}})


def conversation_clear(*, telegram_user_id: int) -> None:
    ConversationState.objects.filter(telegram_user_id=telegram_user_id).exclude(state="").update(state="", data={})


def mint_ref(*, mint: str) -> int:
    ref = MintRef.objects.filter(mint=mint).values_list("pk", flat=True).first()
    if ref is None:
        try:
            with transaction.atomic():
                ref = MintRef.objects.create(mint=mint).pk
        except IntegrityError:
            ref = MintRef.objects.get(mint=mint).pk
    return ref


def mint_of(*, ref: int | str) -> str | None:
    return MintRef.objects.filter(pk=int(ref)).values_list("mint", flat=True).first()


def callback_claim_once(*, sig: str, ttl_s: int = 86400) -> bool:
    """True the first time a one-shot button (confirm, export...) is used; False on a second tap."""
    return bool(limits.client().set(f"{limits.PREFIX}cb:{sig}", 1, nx=True, ex=ttl_s))


logger = logging.getLogger(__name__)


def _inbound_key() -> bytes:
    return hashlib.sha256(b"jarvis-inbound-updates|" + settings.SECRET_KEY.encode()).digest()


def _seal(update_id: int, payload: dict) -> dict:
    """A stored update waits for the bot in the database (and its backups): it may hold a private key a trader
    pasted at the import step, so it is kept encrypted (AES-GCM, key derived from SECRET_KEY, bound to its id)."""
    nonce = os.urandom(12)
    blob = AESGCM(_inbound_key()).encrypt(nonce, json.dumps(payload).encode(), str(update_id).encode())
    return {"sealed": base64.b64encode(nonce + blob).decode()}


def _open(row: InboundUpdate) -> dict | None:
    if "sealed" not in (row.payload or {}):
        return row.payload  # stored before payloads were sealed
    raw = base64.b64decode(row.payload["sealed"])
    try:
        return json.loads(AESGCM(_inbound_key()).decrypt(raw[:12], raw[12:], str(row.update_id).encode()))
    except InvalidTag:
        return None


def webhook_update_store(*, payload: dict) -> bool:
    """Keep a webhook update before answering 200. False when that update_id was seen before (a retry)."""
    update_id = payload.get("update_id")
    if not isinstance(update_id, int):
        raise ValueError("update without an integer update_id")
    try:
        with transaction.atomic():
            InboundUpdate.objects.create(update_id=update_id, payload=_seal(update_id, payload))
    except IntegrityError:
        return False
    key = f"{limits.PREFIX}inbound"  # only a wake-up call for the bot; the row is the truth
    limits.client().pipeline(transaction=False).lpush(key, update_id).ltrim(key, 0, 99).execute()
    return True


def inbound_next(*, after: int = 0, limit: int = 50) -> list[InboundUpdate]:
    """Stored updates not processed yet, oldest first (all of them after a restart: ``after=0``), each with its
    payload decrypted in memory. One sealed under another SECRET_KEY (rotated while it waited) cannot be read: it
    is marked done and logged, not retried for ever."""
    rows = []
    for row in InboundUpdate.objects.filter(processed_at__isnull=True, update_id__gt=after).order_by("update_id")[:limit]:
        payload = _open(row)
        if payload is None:
            logger.warning("webhook update %s cannot be decrypted (SECRET_KEY changed since it was stored); dropped",
                           row.update_id)
            inbound_done(update_id=row.update_id)
            continue
        row.payload = payload
        rows.append(row)
    return rows


def inbound_done(*, update_id: int) -> None:
    """Mark an update processed and drop its payload: a pasted private key must not stay in the database (or
    its backups) once the bot has handled it. The update_id stays, so a Telegram retry is still dropped."""
    InboundUpdate.objects.filter(update_id=update_id).update(processed_at=timezone.now(), payload={})
