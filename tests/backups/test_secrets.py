"""Wallet secrets reach a backup and the state export only in their encrypted form."""

from __future__ import annotations

import io
import json
import subprocess

import base58
import pytest
from solders.keypair import Keypair

from backups import pg
from backups.export import state_export
from backups.models import BackupRecord
from backups.services import backup_create, plain_copy


@pytest.mark.usefixtures("backup_settings", "transactional_db")
def test_a_backup_holds_the_wallet_secret_only_encrypted(settings):
    from trading.services import trader_register
    from trading.wallets import wallet_import

    keypair = Keypair()
    secret_b58 = base58.b58encode(bytes(keypair)).decode()
    wallet = wallet_import(trader=trader_register(name="backup owner"), secret=secret_b58)
    blob = bytes(wallet.encrypted_secret)

    record = backup_create(kind=BackupRecord.Kind.MANUAL)
    assert "trading_wallet" in record.manifest["tables"] and record.manifest["tables"]["trading_wallet"]["rows"] == 1

    stored = settings.BACKUP_DIR / record.location
    assert bytes(keypair.pubkey()) not in stored.read_bytes()  # the whole file is encrypted at rest
    with plain_copy(stored, what="the backup") as plain:
        data = subprocess.run([pg.pg_bin("pg_restore"), "--data-only", "--file=-", str(plain)],
                              capture_output=True, text=True, check=True).stdout
    assert str(keypair.pubkey()) in data and blob.hex() in data  # the wallet is there, encrypted
    assert secret_b58 not in data and bytes(keypair).hex() not in data and bytes(keypair)[:32].hex() not in data

    out = io.StringIO()
    state_export(stream=out)
    exported = json.loads(out.getvalue())
    wallets = exported["models"]["trading.Wallet"]
    assert len(wallets) == 1 and "encrypted_secret" not in wallets[0]
    assert secret_b58 not in out.getvalue() and blob.hex() not in out.getvalue()
    assert wallets[0]["public_key"] == str(keypair.pubkey())
