"""A trader's second factor: TOTP (RFC 6238, pyotp) with recovery codes.

- The TOTP secret is encrypted at rest like a wallet key (trading.keys, AES-256-GCM under WALLET_ENCRYPTION_KEYS) and is
  returned once, by `second_factor_begin`, for the trader's authenticator app; nothing shows it again.
- A code works once: the time step of the last accepted code is stored (a compare-and-swap), and a code of that step or an
  earlier one is refused. Codes of the previous, current and next 30-second step are accepted (clock drift).
- Recovery codes are shown once, by `second_factor_confirm`, and stored only as salted SHA-256 hashes; each works once.
- Wrong, reused and expired codes count as failures: after MAX_FAILURES within LOCK_SECONDS the factor is locked until
  the window passes (a Redis counter), and no code, right or wrong, is looked at meanwhile.

`second_factor_check(trader=..., code=...)` is the one gate for export, withdrawal and allow-list changes; it also
guards turning the factor off (`second_factor_disable`) and replacing the recovery codes (`second_factor_recovery_renew`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
import time

import pyotp
from django.utils import timezone

from jarvis.redis import redis_client
from trading.errors import InvalidInput
from trading.keys import encryption_keys, secret_decrypt, secret_encrypt
from trading.models import SecondFactor, Trader

logger = logging.getLogger(__name__)

ISSUER = "Jarvis"
STEP_SECONDS = 30
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
RECOVERY_CODES = 8
_TOTP = re.compile(r"^[0-9]{6}$")
_RECOVERY = re.compile(r"^[a-z2-7]{5}-?[a-z2-7]{5}$")
_FAIL_KEY = "trading:2fa:failures:{}"


class SecondFactorError(InvalidInput):
    """A code was refused: `message` is one sentence, nothing was changed (except the failure count)."""

    code = "second_factor"


def _aad_label(trader_id: int) -> str:
    return f"totp:{trader_id}"  # authenticated with the blob: a secret copied onto another trader fails to decrypt


def _hash(salt: str, code: str) -> str:
    return salt + "$" + hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _recovery_new() -> str:
    raw = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def second_factor_enabled(*, trader: Trader) -> bool:
    return SecondFactor.objects.filter(trader=trader, confirmed_at__isnull=False).exists()


def second_factor_begin(*, trader: Trader, account_label: str) -> tuple[str, str]:
    """Start set-up: a new secret (replacing an unconfirmed one). Returns (base32 secret, otpauth:// URI), shown once."""
    if second_factor_enabled(trader=trader):
        raise SecondFactorError("Your second factor is already on.", "second_factor_on")
    secret = pyotp.random_base32()
    kid, blob = secret_encrypt(secret=secret.encode(), public_key=_aad_label(trader.id))
    SecondFactor.objects.update_or_create(
        trader=trader, defaults={"encrypted_secret": blob, "key_id": kid, "confirmed_at": None, "last_step": 0,
                                 "recovery_hashes": []})
    uri = pyotp.TOTP(secret).provisioning_uri(name=account_label[:64] or f"trader {trader.id}", issuer_name=ISSUER)
    logger.info("second factor set-up started for trader %s", trader.pk)
    return secret, uri


def second_factor_confirm(*, trader: Trader, code: str) -> list[str]:
    """Finish set-up with a current code; returns the recovery codes (shown once, stored hashed)."""
    factor = SecondFactor.objects.filter(trader=trader).first()
    if factor is None:
        raise SecondFactorError("Start with /2fa: there is no second factor being set up.", "second_factor_none")
    if factor.confirmed_at is not None:
        raise SecondFactorError("Your second factor is already on.", "second_factor_on")
    _not_locked(trader)
    step = _totp_step(factor, code)
    codes, hashes = _recovery_codes()
    done = SecondFactor.objects.filter(id=factor.id, confirmed_at__isnull=True, last_step__lt=step).update(
        confirmed_at=timezone.now(), last_step=step, recovery_hashes=hashes)
    if done != 1:
        raise SecondFactorError("That code was already used; wait for the next one.", "code_reused")
    _failures_reset(trader)
    logger.warning("second factor turned on by trader %s", trader.pk)
    return codes


def second_factor_check(*, trader: Trader, code: str | None) -> str:
    """The gate for export, withdrawal and allow-list changes. Returns "off" when the trader has no second factor,
    "totp" or "recovery" when `code` was accepted (and spent); raises SecondFactorError otherwise."""
    factor = SecondFactor.objects.filter(trader=trader, confirmed_at__isnull=False).first()
    if factor is None:
        return "off"
    if code is None or not str(code).strip():
        raise SecondFactorError("Your second factor is on: send a current code from your authenticator app "
                                "(or a recovery code).", "code_required")
    _not_locked(trader)
    text = "".join(str(code).split()).lower()
    if _RECOVERY.match(text) and not _TOTP.match(text):
        _recovery_spend(factor, text.replace("-", ""))
        kind = "recovery"
    else:
        step = _totp_step(factor, text)
        if SecondFactor.objects.filter(id=factor.id, last_step__lt=step).update(last_step=step) != 1:
            _failed(trader)
            raise SecondFactorError("That code was already used; wait for the next one.", "code_reused")
        kind = "totp"
    _failures_reset(trader)
    return kind


def _totp_step(factor: SecondFactor, code: str) -> int:
    """The time step `code` belongs to (previous, current or next), or a refusal counted as a failure."""
    text = "".join(str(code or "").split())
    if not _TOTP.match(text):
        _failed(factor.trader)
        raise SecondFactorError("A code is the 6 digits your authenticator app shows now (or a recovery code like "
                                "abcde-fghij).", "code_malformed")
    totp = pyotp.TOTP(secret_decrypt(blob=factor.encrypted_secret, public_key=_aad_label(factor.trader_id),
                                     kid=factor.key_id).decode())
    if factor.last_step and hmac.compare_digest(totp.at(factor.last_step * STEP_SECONDS), text):
        _failed(factor.trader)
        raise SecondFactorError("That code was already used; wait for the next one.", "code_reused")
    now = int(time.time()) // STEP_SECONDS
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), text):
            if step <= factor.last_step:
                _failed(factor.trader)
                raise SecondFactorError("That code was already used; wait for the next one.", "code_reused")
            return step
    _failed(factor.trader)
    raise SecondFactorError("That code is wrong or expired; nothing was changed. Send the code your app shows now.",
                            "code_wrong")


def _recovery_spend(factor: SecondFactor, code: str) -> None:
    hashes = list(factor.recovery_hashes or [])
    for stored in hashes:
        salt = stored.split("$", 1)[0]
        if hmac.compare_digest(_hash(salt, code), stored):
            remaining = [h for h in hashes if h != stored]
            # compare-and-swap on the list: two concurrent uses of one code cannot both pass
            if SecondFactor.objects.filter(id=factor.id, recovery_hashes=hashes).update(recovery_hashes=remaining) == 1:
                logger.warning("recovery code used by trader %s (%d left)", factor.trader_id, len(remaining))
                return
            break
    _failed(factor.trader)
    raise SecondFactorError("That recovery code is wrong or already used; nothing was changed.", "recovery_wrong")


def _recovery_codes() -> tuple[list[str], list[str]]:
    codes = [_recovery_new() for _ in range(RECOVERY_CODES)]
    return codes, [_hash(secrets.token_hex(8), c.replace("-", "")) for c in codes]


def _required(trader: Trader, code: str | None, what: str) -> None:
    if not second_factor_enabled(trader=trader):
        raise SecondFactorError("Your second factor is off: there is nothing to " + what + ".", "second_factor_off")
    second_factor_check(trader=trader, code=code)


def second_factor_disable(*, trader: Trader, code: str | None) -> None:
    """Turn the second factor off with a current code (or a recovery code): the secret and every recovery code are
    deleted. A refused code changes nothing (beyond the failure count)."""
    _required(trader, code, "turn off")
    SecondFactor.objects.filter(trader=trader).delete()
    logger.warning("second factor turned off by trader %s", trader.pk)


def second_factor_recovery_renew(*, trader: Trader, code: str | None) -> list[str]:
    """New recovery codes, given a current code (or one of the old recovery codes): the old ones stop working at once.
    Returns the new codes (shown once, stored hashed)."""
    _required(trader, code, "renew")
    codes, hashes = _recovery_codes()
    SecondFactor.objects.filter(trader=trader, confirmed_at__isnull=False).update(recovery_hashes=hashes)
    logger.warning("recovery codes replaced by trader %s", trader.pk)
    return codes


def second_factor_recovery_left(*, trader: Trader) -> int:
    factor = SecondFactor.objects.filter(trader=trader).first()
    return len(factor.recovery_hashes or []) if factor else 0


def _not_locked(trader: Trader) -> None:
    client = redis_client()
    key = _FAIL_KEY.format(trader.id)
    failures = int(client.get(key) or 0)
    if failures >= MAX_FAILURES:
        wait = max(client.ttl(key), 1)
        raise SecondFactorError(f"Too many wrong codes: codes are locked for {math.ceil(wait / 60)} more minutes.",
                                "second_factor_locked")


def _failed(trader: Trader) -> None:
    client = redis_client()
    key = _FAIL_KEY.format(trader.id)
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, LOCK_SECONDS, nx=True)
    pipe.execute()
    logger.info("second factor code refused for trader %s", trader.pk)


def _failures_reset(trader: Trader) -> None:
    redis_client().delete(_FAIL_KEY.format(trader.id))


def second_factors_rotate_all() -> dict:
    """Re-encrypt every TOTP secret not under the current key (as `wallets_rotate_all` does for wallets): row by row,
    each swap a compare-and-swap on the old blob, so it runs while traders use their codes and can be run again."""
    kid = encryption_keys()[0][0]
    rotated = skipped = 0
    for factor in SecondFactor.objects.exclude(key_id=kid).iterator():
        old_blob = bytes(factor.encrypted_secret)
        label = _aad_label(factor.trader_id)
        secret = secret_decrypt(blob=old_blob, public_key=label, kid=factor.key_id)
        new_kid, new_blob = secret_encrypt(secret=secret, public_key=label)
        if SecondFactor.objects.filter(id=factor.id, key_id=factor.key_id, encrypted_secret=old_blob).update(
                key_id=new_kid, encrypted_secret=new_blob) == 1:
            rotated += 1
        else:
            skipped += 1
    return {"key_id": kid, "rotated": rotated, "skipped": skipped,
            "remaining": SecondFactor.objects.exclude(key_id=kid).count()}
