"""Bad input and faults: corrupt files, concurrent writes, full disk, unreachable storage, missing tools."""

from __future__ import annotations

import logging
import subprocess
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from backups import pg
from backups.errors import BackupError
from backups.models import BackupRecord
from backups.services import backup_create, backup_verify, plain_copy
from tests.fixtures.backups import LEDGER_ACCOUNTS, LEDGER_ENTRIES, SCRATCH_PREFIX, ledger_consistent, ledger_transfer

pytestmark = pytest.mark.usefixtures("backup_settings", "test_ledger")


def _trade(count: int) -> None:
    with connection.cursor() as cursor:
        for i in range(count):
            ledger_transfer(cursor, debit=1 + i % 20, credit=1 + (i + 5) % 20, amount=10_000 + i)


def _entries() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {LEDGER_ENTRIES}")
        return cursor.fetchone()[0]


def _alert(target: str) -> str:
    """The message of the firing monitoring alert for ``target`` (empty if none)."""
    from monitoring.models import AlertEvent

    event = AlertEvent.objects.filter(target=target, state=AlertEvent.State.FIRING).first()
    return event.message if event else ""


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_one_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip_one_byte], ids=["truncated", "one-byte-altered"])
def test_a_damaged_backup_is_refused_by_its_checksum_and_never_restored(settings, damage, caplog):
    _trade(30)
    record = backup_create(kind=BackupRecord.Kind.MANUAL)
    damage(settings.BACKUP_DIR / record.location)
    _trade(7)

    with caplog.at_level(logging.ERROR, logger="backups"), pytest.raises(BackupError, match="corrupt"):
        backup_verify(record_id=record.pk)
    record.refresh_from_db()
    assert record.verified_at is None and "SHA-256" in record.verify_error
    assert any(r.levelno == logging.ERROR and "failed verification" in r.getMessage() for r in caplog.records)
    assert _alert("backups:verify-failed") and f"Backup {record.pk} failed verification" in _alert("backups:verify-failed")

    with pytest.raises(CommandError, match="not verified"):
        call_command("restore_backup", str(record.pk), "--yes")
    assert _entries() == 37
    assert not BackupRecord.objects.filter(kind=BackupRecord.Kind.SAFETY).exists()


def test_restore_refuses_a_file_altered_after_verification():
    _trade(12)
    record = backup_create(kind=BackupRecord.Kind.MANUAL)
    backup_verify(record_id=record.pk)
    from django.conf import settings

    _flip_one_byte(settings.BACKUP_DIR / record.location)
    with pytest.raises(CommandError, match="corrupt"):
        call_command("restore_backup", str(record.pk), "--yes")
    assert _entries() == 12
    assert not BackupRecord.objects.filter(kind=BackupRecord.Kind.SAFETY).exists()


def test_a_backup_taken_while_trades_are_written_is_one_consistent_snapshot():
    _trade(50)
    stop = threading.Event()
    committed = []

    def writer():
        conn = connections.create_connection("default")
        try:
            i = 0
            while not stop.is_set():
                with conn.cursor() as cursor:
                    cursor.execute("BEGIN")
                    ledger_transfer(cursor, debit=1 + i % 20, credit=1 + (i * 3 + 1) % 20, amount=777 + i)
                    cursor.execute("COMMIT")
                committed.append(i)
                i += 1
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(committed) < 20:
            stop.wait(0.01)
        before = _entries()
        record = backup_create(kind=BackupRecord.Kind.HOURLY)
        after = _entries()
    finally:
        stop.set()
        thread.join()
    in_backup = record.manifest["tables"][LEDGER_ENTRIES]["rows"]
    assert after > before and before <= in_backup <= after  # trades were being written during the backup

    server = pg.PgTarget.from_django(connection.settings_dict)
    scratch = pg.database_create(target=server, name=f"{SCRATCH_PREFIX}_consistency")
    try:
        with plain_copy(_stored(record), what="the backup") as plain:
            pg.restore(target=scratch, source=plain, clean=False, jobs=2, timeout=120)
        assert pg.manifest_of(scratch)["tables"] == record.manifest["tables"]  # same counts and checksums
        restored = scratch.connect()
        try:
            with restored.cursor() as cursor:
                assert ledger_consistent(cursor)
                cursor.execute(f"SELECT count(*) FROM {LEDGER_ENTRIES}")
                assert cursor.fetchone()[0] == in_backup
                cursor.execute(f"SELECT count(*) FROM {LEDGER_ACCOUNTS}")
                assert cursor.fetchone()[0] == 20
        finally:
            restored.close()
    finally:
        pg.database_drop(target=server, name=f"{SCRATCH_PREFIX}_consistency")


def _stored(record):
    from django.conf import settings

    return settings.BACKUP_DIR / record.location


def _final_files(directory) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_unreachable_storage_fails_loudly_leaves_no_file_and_the_next_run_succeeds(settings, tmp_path, caplog):
    _trade(5)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the backup directory should be")
    settings.BACKUP_DIR = blocker / "store"
    settings.BACKUP_STAGING_DIR = tmp_path / "staging"

    with caplog.at_level(logging.ERROR, logger="backups"), pytest.raises(BackupError, match="could not store"):
        backup_create(kind=BackupRecord.Kind.HOURLY)
    failed = BackupRecord.objects.get()
    assert failed.status == BackupRecord.Status.FAILED and "could not store" in failed.error
    assert failed.location == "" and _final_files(tmp_path / "staging") == []
    assert any(r.levelno == logging.ERROR and f"Backup {failed.pk}" in r.getMessage() for r in caplog.records)
    assert "could not store" in _alert("backups:backup-failed")

    settings.BACKUP_DIR = tmp_path / "store"
    again = backup_create(kind=BackupRecord.Kind.HOURLY)
    assert again.status == BackupRecord.Status.SUCCEEDED
    assert _final_files(tmp_path / "store") == sorted([again.location, again.location + ".json"])


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs: a real 'no space left on device'. Needs root (mount); skipped elsewhere."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mountpoint)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    yield mountpoint
    subprocess.run(["umount", str(mountpoint)], check=True)


def test_a_full_disk_fails_the_backup_and_leaves_no_half_written_file(settings, tiny_disk):
    with connection.cursor() as cursor:  # about 300 KB of incompressible data: more than the disk holds
        cursor.execute(f"INSERT INTO {LEDGER_ENTRIES} (debit, credit, amount_lamports, memo) "
                       "SELECT 1, 1, 0, md5(random()::text) || md5(random()::text) FROM generate_series(1, 5000)")
    settings.BACKUP_DIR = tiny_disk / "store"
    settings.BACKUP_STAGING_DIR = tiny_disk / "store" / ".staging"
    with pytest.raises(BackupError, match="pg_dump failed"):
        backup_create(kind=BackupRecord.Kind.HOURLY)
    record = BackupRecord.objects.get()
    assert record.status == BackupRecord.Status.FAILED and "No space left" in record.error
    assert _final_files(tiny_disk) == []


def test_a_missing_pg_dump_fails_loudly(settings):
    settings.PG_BIN_DIR = "/nonexistent/postgresql/bin"
    with pytest.raises(BackupError, match="pg_dump was not found"):
        backup_create(kind=BackupRecord.Kind.HOURLY)
    assert BackupRecord.objects.get().status == BackupRecord.Status.FAILED
