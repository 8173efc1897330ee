"""Backups encrypted at rest: a lost key makes a backup unrestorable (said plainly, naming the key), never garbage."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backups import crypto
from backups.errors import BackupError, BackupRefused
from backups.models import BackupRecord
from backups.services import backup_create, backup_verify
from tests.fixtures.backups import LEDGER_ENTRIES, ledger_transfer

pytestmark = pytest.mark.usefixtures("backup_settings", "test_ledger")


def _trade(count: int) -> None:
    with connection.cursor() as cursor:
        for i in range(count):
            ledger_transfer(cursor, debit=1 + i % 20, credit=1 + (i * 3 + 1) % 20, amount=500 + i)


def _entries() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {LEDGER_ENTRIES}")
        return cursor.fetchone()[0]


def test_a_backup_under_a_lost_key_is_reported_unrestorable_naming_the_key(settings, backup_encryption_key):
    _trade(10)
    record = backup_create(kind=BackupRecord.Kind.MANUAL)
    lost_id = crypto.key_id(crypto.key_parse(backup_encryption_key))
    stored = (settings.BACKUP_DIR / record.location).read_bytes()
    assert stored.startswith(crypto.MAGIC) and b"trader 1" not in stored  # nothing readable at rest
    assert backup_verify(record_id=record.pk).is_verified  # verified by a restore while the key is there
    _trade(4)

    settings.BACKUP_ENCRYPTION_KEY = crypto.key_new()  # the key is lost; another one is configured
    with pytest.raises(BackupError, match=f"encrypted under key {lost_id}, which is not available"):
        backup_verify(record_id=record.pk)
    with pytest.raises(CommandError, match=f"encrypted under key {lost_id}"):
        call_command("restore_backup", str(record.pk), "--yes", "--force")
    settings.BACKUP_ENCRYPTION_KEY = None  # no key at all
    with pytest.raises(CommandError, match=f"key {lost_id}.*no BACKUP_ENCRYPTION_KEY is set"):
        call_command("restore_backup", str(record.pk), "--yes", "--force")
    assert _entries() == 14  # nothing was restored
    assert not BackupRecord.objects.filter(kind=BackupRecord.Kind.SAFETY).exists()


def test_an_encrypted_file_cut_short_reordered_or_altered_never_decrypts(tmp_path):
    key = crypto.key_parse(crypto.key_new())
    plain = tmp_path / "plain"
    plain.write_bytes(bytes(range(256)) * (crypto.CHUNK // 256 * 2 + 7))  # three chunks
    sealed = tmp_path / "sealed"
    crypto.encrypt_file(source=plain, dest=sealed, key=key)
    out = tmp_path / "out"
    crypto.decrypt_file(source=sealed, dest=out, key=key, what="the file")
    assert out.read_bytes() == plain.read_bytes()

    data = sealed.read_bytes()
    record = 4 + crypto.CHUNK + 16
    header = len(crypto.MAGIC) + 16
    damaged = {
        "cut after a whole chunk": data[: header + record],
        "chunks swapped": data[:header] + data[header + record: header + 2 * record] + data[header: header + record]
        + data[header + 2 * record:],
        "one byte altered": data[:-40] + bytes([data[-40] ^ 1]) + data[-39:],
        "data appended": data + data[-100:],
    }
    for how, content in damaged.items():
        sealed.write_bytes(content)
        with pytest.raises(BackupRefused, match="damaged or was altered"):
            crypto.decrypt_file(source=sealed, dest=out, key=key, what="the file")
        assert not out.exists(), how
