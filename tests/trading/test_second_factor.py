"""The second factor's service (trading.second_factor): time steps, expiry, one use per code, the failure lock,
encryption at rest and key rotation. Real Postgres and Redis; the clock moved with time-machine."""

from __future__ import annotations

import base64
import logging

import pyotp
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from trading.models import SecondFactor, Wallet
from trading.second_factor import (
    MAX_FAILURES,
    SecondFactorError,
    second_factor_begin,
    second_factor_check,
    second_factor_confirm,
    second_factor_disable,
    second_factor_enabled,
    second_factor_recovery_renew,
)
from trading.wallets import wallet_activate, wallet_create, wallet_export

pytestmark = pytest.mark.django_db

KEY_A = "a:" + base64.b64encode(b"\xaa" * 32).decode()
KEY_B = "b:" + base64.b64encode(b"\xbb" * 32).decode()
T0 = 1_800_000_000  # a step boundary (divisible by 30)


def _on(trader) -> tuple[pyotp.TOTP, list[str]]:
    secret, uri = second_factor_begin(trader=trader, account_label="alice")
    totp = pyotp.TOTP(secret)
    with time_machine.travel(T0, tick=False):
        codes = second_factor_confirm(trader=trader, code=totp.at(T0))
    return totp, codes


def _refused(trader, code, code_name: str, at: int) -> None:
    with time_machine.travel(at, tick=False), pytest.raises(SecondFactorError) as info:
        second_factor_check(trader=trader, code=code)
    assert info.value.code == code_name, info.value.message


def test_a_code_is_good_in_its_window_once_and_never_after(trader, clean_redis):
    totp, _ = _on(trader)
    _refused(trader, totp.at(T0), "code_reused", T0 + 5)  # the set-up's code is spent
    with time_machine.travel(T0 + 30, tick=False):  # next step, the app's code
        assert second_factor_check(trader=trader, code=totp.at(T0 + 30)) == "totp"
    _refused(trader, totp.at(T0 + 30), "code_reused", T0 + 31)
    _refused(trader, totp.at(T0 + 15), "code_reused", T0 + 45)  # an earlier step than the last used one
    _refused(trader, totp.at(T0 + 60), "code_wrong", T0 + 120)  # two steps old: expired
    with time_machine.travel(T0 + 120, tick=False):  # a code of the next step (a clock a little ahead) is accepted
        assert second_factor_check(trader=trader, code=" " + totp.at(T0 + 150)[:3] + " " + totp.at(T0 + 150)[3:]) == "totp"
    assert SecondFactor.objects.get().last_step == (T0 + 150) // 30
    for bad in ("12345", "1234567", "١٢٣٤٥٦", "12345x", ""):
        with pytest.raises(SecondFactorError):
            second_factor_check(trader=trader, code=bad)


def test_failures_lock_then_a_success_clears_the_count(trader, clean_redis, redis_client):
    totp, codes = _on(trader)
    wrong = next(c for c in ("000000", "111111", "222222") if c not in {totp.at(T0 + k * 30) for k in range(1, 4)})
    for _ in range(MAX_FAILURES - 1):
        _refused(trader, wrong, "code_wrong", T0 + 60)
    with time_machine.travel(T0 + 60, tick=False):
        assert second_factor_check(trader=trader, code=totp.at(T0 + 60)) == "totp"  # resets the count
    for _ in range(MAX_FAILURES):
        _refused(trader, wrong, "code_wrong", T0 + 90)
    _refused(trader, totp.at(T0 + 90), "second_factor_locked", T0 + 90)
    _refused(trader, codes[0], "second_factor_locked", T0 + 90)
    assert len(SecondFactor.objects.get().recovery_hashes) == len(codes)  # nothing spent while locked


def test_export_spends_the_code_before_the_key_and_recovery_codes_work_once(trader, clean_redis):
    wallet = wallet_create(trader=trader)
    totp, codes = _on(trader)
    with pytest.raises(SecondFactorError):
        wallet_export(trader=trader, wallet_id=wallet.id)
    assert wallet_export(trader=trader, wallet_id=wallet.id, code=codes[3]) == str(wallet.keypair())
    with pytest.raises(SecondFactorError) as info:
        wallet_export(trader=trader, wallet_id=wallet.id, code=codes[3])
    assert info.value.code == "recovery_wrong"
    assert len(SecondFactor.objects.get().recovery_hashes) == len(codes) - 1


def test_turning_off_and_new_recovery_codes_need_a_current_code(trader, clean_redis):
    totp, old_codes = _on(trader)
    for code, name in ((None, "code_required"), ("000000" if totp.at(T0 + 30) != "000000" else "111111", "code_wrong")):
        with time_machine.travel(T0 + 30, tick=False), pytest.raises(SecondFactorError) as info:
            second_factor_recovery_renew(trader=trader, code=code)
        assert info.value.code == name
    assert SecondFactor.objects.get().recovery_hashes and second_factor_enabled(trader=trader)  # nothing changed
    with time_machine.travel(T0 + 30, tick=False):
        new_codes = second_factor_recovery_renew(trader=trader, code=totp.at(T0 + 30))
    assert len(new_codes) == len(old_codes) and not set(new_codes) & set(old_codes)
    _refused(trader, old_codes[0], "recovery_wrong", T0 + 40)  # the old codes stopped working
    with time_machine.travel(T0 + 40, tick=False):
        assert second_factor_check(trader=trader, code=new_codes[0]) == "recovery"

    _refused(trader, totp.at(T0 + 30), "code_reused", T0 + 45)  # turning off: a spent code is refused, 2FA stays on
    with time_machine.travel(T0 + 45, tick=False), pytest.raises(SecondFactorError):
        second_factor_disable(trader=trader, code=totp.at(T0 + 30))
    assert second_factor_enabled(trader=trader)
    with time_machine.travel(T0 + 60, tick=False):
        second_factor_disable(trader=trader, code=totp.at(T0 + 60))
    assert not SecondFactor.objects.filter(trader=trader).exists()
    assert second_factor_check(trader=trader, code=None) == "off"
    with pytest.raises(SecondFactorError) as info:
        second_factor_disable(trader=trader, code=totp.at(T0 + 90))
    assert info.value.code == "second_factor_off"
    second_factor_begin(trader=trader, account_label="alice")  # and it can be turned on again


def test_the_secret_is_encrypted_bound_to_its_trader_and_never_logged(make_trader, clean_redis, caplog):
    alice, bob = make_trader("alice"), make_trader("bob")
    caplog.set_level(logging.DEBUG)
    secret, _ = second_factor_begin(trader=alice, account_label="alice")
    second_factor_begin(trader=bob, account_label="bob")
    row = SecondFactor.objects.get(trader=alice)
    assert secret.encode() not in bytes(row.encrypted_secret) and secret not in repr(row) + str(row)
    assert secret not in caplog.text
    SecondFactor.objects.filter(trader=bob).update(encrypted_secret=row.encrypted_secret)  # alice's blob on bob's row
    with time_machine.travel(T0, tick=False), pytest.raises(Exception) as info:
        second_factor_confirm(trader=bob, code=pyotp.TOTP(secret).at(T0))
    assert getattr(info.value, "code", "") == "wallet_tampered"
    assert SecondFactor.objects.get(trader=bob).confirmed_at is None


def test_key_rotation_reencrypts_2fa_secrets_too(trader, settings, clean_redis):
    settings.WALLET_ENCRYPTION_KEYS = KEY_A
    totp, _ = _on(trader)
    settings.WALLET_ENCRYPTION_KEYS = f"{KEY_B},{KEY_A}"
    call_command("rotate_wallet_key")
    assert SecondFactor.objects.get().key_id == "b"
    settings.WALLET_ENCRYPTION_KEYS = KEY_B  # the old key can go: codes still check
    with time_machine.travel(T0 + 30, tick=False):
        assert second_factor_check(trader=trader, code=totp.at(T0 + 30)) == "totp"
    settings.WALLET_ENCRYPTION_KEYS = "c:" + base64.b64encode(b"\xcc" * 32).decode()
    with pytest.raises(CommandError, match="not configured"):
        call_command("rotate_wallet_key")


def test_one_active_wallet_per_trader_is_a_database_rule(trader, make_trader):
    first, second = wallet_create(trader=trader), wallet_create(trader=trader, name="Second")
    assert (first.active, second.active, second.name) == (True, False, "Second")
    wallet_activate(trader=trader, wallet_id=second.id)
    assert list(Wallet.objects.filter(active=True).values_list("id", flat=True)) == [second.id]
    with pytest.raises(IntegrityError):
        Wallet.objects.filter(id=first.id).update(active=True)
