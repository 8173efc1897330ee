"""Wallets: generate/import/export, AES-GCM at rest, key rotation, and secrets never leaking."""

import base64
import json
import logging

import base58
import pytest
from django.core import serializers
from django.core.management import CommandError, call_command
from solders.keypair import Keypair

from trading.errors import InvalidInput, NotFound, WalletError
from trading.models import DomainEvent, Wallet
from trading.wallets import wallet_create, wallet_export, wallet_import

pytestmark = pytest.mark.django_db

KEY_A = "a:" + base64.b64encode(b"\xaa" * 32).decode()
KEY_B = "b:" + base64.urlsafe_b64encode(b"\xbb" * 31 + b"\xff").decode()


def _secret58(keypair: Keypair) -> str:
    return base58.b58encode(bytes(keypair)).decode()


def test_generated_wallet_decrypts_to_its_public_key_and_is_encrypted_at_rest(trader):
    wallet = wallet_create(trader=trader)
    keypair = Wallet.objects.get(id=wallet.id).keypair()
    assert str(keypair.pubkey()) == wallet.public_key
    blob = bytes(Wallet.objects.get(id=wallet.id).encrypted_secret)
    assert bytes(keypair)[:32] not in blob and len(blob) == 12 + 64 + 16


def test_import_base58_and_json_array_give_the_same_wallet(make_trader):
    keypair = Keypair()
    first = wallet_import(trader=make_trader("a"), secret=_secret58(keypair))
    assert first.public_key == str(keypair.pubkey())
    first.delete()
    second = wallet_import(trader=make_trader("b"), secret=json.dumps(list(bytes(keypair))))
    assert second.public_key == str(keypair.pubkey())
    assert bytes(second.keypair()) == bytes(keypair)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "   ",
        "not base58 0OIl",
        base58.b58encode(b"\x01" * 32).decode(),  # 32 bytes: a seed or public key, not a secret key
        "[1, 2, 3]",
        json.dumps([256] * 64),
        json.dumps([True] * 64),
        "[1, 2,",
        # a valid private half with somebody else's public half
        base58.b58encode(bytes(Keypair())[:32] + bytes(Keypair().pubkey())).decode(),
    ],
)
def test_malformed_secrets_are_refused_and_write_nothing(trader, secret):
    with pytest.raises(InvalidInput) as info:
        wallet_import(trader=trader, secret=secret)
    assert info.value.code == "bad_secret" and info.value.message.endswith(".")
    assert Wallet.objects.count() == 0


def test_importing_the_same_wallet_twice_is_refused(trader):
    keypair = Keypair()
    wallet_import(trader=trader, secret=_secret58(keypair))
    with pytest.raises(InvalidInput) as info:
        wallet_import(trader=trader, secret=_secret58(keypair))
    assert info.value.code == "wallet_exists" and Wallet.objects.count() == 1


def test_export_returns_the_secret_only_to_its_owner_and_audits_without_it(make_trader, caplog):
    alice, bob = make_trader("alice"), make_trader("bob")
    keypair = Keypair()
    wallet = wallet_import(trader=alice, secret=_secret58(keypair))
    with caplog.at_level(logging.DEBUG):
        assert wallet_export(trader=alice, wallet_id=wallet.id) == _secret58(keypair)
    with pytest.raises(NotFound):
        wallet_export(trader=bob, wallet_id=wallet.id)
    event = DomainEvent.objects.get(kind="wallet.exported")
    assert event.payload == {"wallet_id": wallet.id, "public_key": wallet.public_key}
    assert any("exported" in r.getMessage() for r in caplog.records)
    assert not any(_secret58(keypair) in r.getMessage() for r in caplog.records)


def test_secret_never_appears_in_repr_str_logs_or_serialisation(trader, caplog):
    keypair = Keypair()
    secret = _secret58(keypair)
    with caplog.at_level(logging.DEBUG):
        wallet = wallet_import(trader=trader, secret=secret)
        wallet.keypair()
    dumped = serializers.serialize("json", Wallet.objects.all())
    forms = [repr(wallet), str(wallet), dumped, caplog.text, json.dumps(list(bytes(keypair)))[1:-1]]
    for text in forms[:-1]:
        assert secret not in text
        assert forms[-1] not in text
        assert base64.b64encode(bytes(keypair)).decode() not in text


def test_blob_moved_to_another_wallet_does_not_decrypt(trader):
    one, two = wallet_create(trader=trader), wallet_create(trader=trader)
    Wallet.objects.filter(id=two.id).update(encrypted_secret=Wallet.objects.get(id=one.id).encrypted_secret)
    with pytest.raises(WalletError) as info:
        Wallet.objects.get(id=two.id).keypair()
    assert info.value.code == "wallet_tampered"


def test_rotation_reencrypts_every_wallet_under_the_first_key(trader, settings):
    settings.WALLET_ENCRYPTION_KEYS = KEY_A
    keypairs = {w.id: bytes(w.keypair()) for w in (wallet_create(trader=trader) for _ in range(3))}
    settings.WALLET_ENCRYPTION_KEYS = f"{KEY_B},{KEY_A}"
    call_command("rotate_wallet_key")
    assert set(Wallet.objects.values_list("key_id", flat=True)) == {"b"}
    settings.WALLET_ENCRYPTION_KEYS = KEY_B  # the old key can now be dropped
    for wallet in Wallet.objects.all():
        assert bytes(wallet.keypair()) == keypairs[wallet.id]
    call_command("rotate_wallet_key")  # idempotent


def test_rotation_without_the_old_key_fails_loudly(trader, settings):
    settings.WALLET_ENCRYPTION_KEYS = KEY_A
    wallet_create(trader=trader)
    settings.WALLET_ENCRYPTION_KEYS = KEY_B
    with pytest.raises(CommandError, match="not configured"):
        call_command("rotate_wallet_key")
    assert Wallet.objects.get().key_id == "a"


@pytest.mark.parametrize("value", ["", "nokey", "a:notbase64!!", "a:" + base64.b64encode(b"short").decode(), f"{KEY_A},{KEY_A}"])
def test_bad_key_configuration_is_a_clear_error(trader, settings, value):
    settings.WALLET_ENCRYPTION_KEYS = value
    with pytest.raises(WalletError):
        wallet_create(trader=trader)
    assert Wallet.objects.count() == 0


def test_rotate_command_reports_missing_configuration(settings):
    settings.WALLET_ENCRYPTION_KEYS = ""
    with pytest.raises(CommandError):
        call_command("rotate_wallet_key")
