"""Round trips on the real Postgres: data, backup, verify, wipe, restore, identical rows, counts and checksums."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from backups import pg
from backups.models import BackupRecord
from backups.services import backup_create, backup_verify
from tests.fixtures.backups import (
    LEDGER_ACCOUNTS,
    LEDGER_ENTRIES,
    SCRATCH_PREFIX,
    ledger_consistent,
    ledger_rows,
    ledger_transfer,
)

pytestmark = pytest.mark.usefixtures("backup_settings", "test_ledger")


def _trade(count: int, memo: str = "") -> None:
    with connection.cursor() as cursor:
        for i in range(count):
            ledger_transfer(cursor, debit=1 + i % 20, credit=1 + (i * 7 + 3) % 20, amount=1_000 + i, memo=memo)


def _scratch_databases() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [SCRATCH_PREFIX])
        return [row[0] for row in cursor.fetchall()]


def _trading_activity(make_trader, price_standin) -> None:
    """Real trading rows through the trading services: traders, settings, paper ledgers, tokens, positions with
    exit plans, buys and sells with their fills and events (paper fills applied here, as the worker would)."""
    from decimal import Decimal

    from tests.fixtures.trading import mint_address
    from trading.services import position_apply_fill, position_open, position_sell

    for n, name in enumerate(("rosa", "sam")):
        trader = make_trader(name)
        for size in (2, 3):
            mint = mint_address()
            price_standin.set(mint, "0.0001", decimals=6)
            position = position_open(trader=trader, mint=mint, amount_lamports=10**8 * size)
            buy = position.orders.get()
            position_apply_fill(order_id=buy.id, in_amount=buy.amount_in, out_amount=1_000_000 * size + n,
                                price=Decimal("0.0001"), fee_lamports=5_000)
            sell = position_sell(trader=trader, position_id=position.id, percent=Decimal(50))
            position_apply_fill(order_id=sell.id, in_amount=sell.amount_in, out_amount=6 * 10**7 * size,
                                price=Decimal("0.00012"), fee_lamports=5_000)


def _trading_rows(cursor) -> dict:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'trading\\_%'")
    rows = {}
    for (table,) in cursor.fetchall():
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')
        rows[table] = cursor.fetchall()
    return rows


def test_backup_verify_wipe_restore_gives_back_identical_money_tables(capsys, settings, make_trader, price_standin):
    _trade(200, memo="before the backup, with 'quotes' and ünïcode")
    _trading_activity(make_trader, price_standin)
    with connection.cursor() as cursor:
        before = ledger_rows(cursor)
        trading_before = _trading_rows(cursor)
    for table in ("trading_trader", "trading_position", "trading_order", "trading_paperledger", "trading_exitplan"):
        assert trading_before[table], f"{table} is empty"
    assert len(trading_before["trading_order"]) == 8
    record = backup_create(kind=BackupRecord.Kind.MANUAL)
    assert record.status == BackupRecord.Status.SUCCEEDED and len(record.sha256) == 64
    assert record.manifest["tables"][LEDGER_ENTRIES]["rows"] == 200
    assert record.manifest["tables"][LEDGER_ACCOUNTS]["rows"] == 20
    assert record.manifest["tables"]["trading_order"]["rows"] == 8
    assert record.manifest["tables"]["trading_position"]["rows"] == 4
    stored = record.size_bytes
    assert stored > 0 and record.location.endswith(".dump.enc")
    assert (settings.BACKUP_DIR / record.location).is_file()

    verified = backup_verify(record_id=record.pk)
    assert verified.verified_at is not None and verified.verify_error == ""
    assert _scratch_databases() == []  # the scratch database is dropped again

    # Wipe: later trades and a deleted ledger, as after an accident.
    _trade(50, memo="after the backup")
    _trading_activity(lambda name: make_trader(f"{name}-later"), price_standin)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LEDGER_ENTRIES} WHERE id % 3 = 0")
        cursor.execute(f"UPDATE {LEDGER_ACCOUNTS} SET balance_lamports = 0")
        cursor.execute("UPDATE trading_position SET size = 0, realised_pnl_lamports = 0")

    bystander = connections.create_connection("default")  # e.g. a worker someone forgot to stop
    try:
        bystander.ensure_connection()
        call_command("restore_backup", str(record.pk), "--yes")
    finally:
        bystander.close()
    captured = capsys.readouterr()
    out = captured.out
    assert "other session(s) are connected" in captured.err
    assert f"restored backup {record.pk}" in out and "money tables match" in out

    with connection.cursor() as cursor:
        assert ledger_rows(cursor) == before
        assert ledger_consistent(cursor)
        assert _trading_rows(cursor) == trading_before  # every trading table, row for row
    assert pg.manifest_of(pg.PgTarget.from_django(connection.settings_dict))["tables"] == record.manifest["tables"]

    # The catalogue survives the restore and holds the safety backup of the state just replaced.
    safety = BackupRecord.objects.get(kind=BackupRecord.Kind.SAFETY)
    assert safety.status == BackupRecord.Status.SUCCEEDED
    assert safety.manifest["tables"][LEDGER_ENTRIES]["rows"] == 250 - len(range(3, 251, 3))
    assert BackupRecord.objects.filter(pk=record.pk, verified_at__isnull=False).exists()


def test_restore_refuses_an_unverified_backup_unless_forced():
    _trade(10)
    record = backup_create(kind=BackupRecord.Kind.MANUAL)
    _trade(5)
    with pytest.raises(CommandError, match="not verified"):
        call_command("restore_backup", str(record.pk), "--yes")
    assert not BackupRecord.objects.filter(kind=BackupRecord.Kind.SAFETY).exists()  # refused before anything ran
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {LEDGER_ENTRIES}")
        assert cursor.fetchone()[0] == 15

    call_command("restore_backup", str(record.pk), "--yes", "--force")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {LEDGER_ENTRIES}")
        assert cursor.fetchone()[0] == 10


def test_restore_latest_takes_the_newest_verified_backup():
    _trade(3)
    older = backup_create(kind=BackupRecord.Kind.HOURLY)
    backup_verify(record_id=older.pk)
    _trade(4)
    backup_create(kind=BackupRecord.Kind.HOURLY)  # newer, never verified
    call_command("restore_backup", "latest", "--yes")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {LEDGER_ENTRIES}")
        assert cursor.fetchone()[0] == 3


def test_restore_without_a_terminal_or_yes_changes_nothing():
    record = backup_create(kind=BackupRecord.Kind.MANUAL)
    with pytest.raises(CommandError, match="confirmation"):
        call_command("restore_backup", str(record.pk))
    with pytest.raises(CommandError, match="backup id"):
        call_command("restore_backup", "yesterday", "--yes")
    assert BackupRecord.objects.count() == 1


def test_database_lost_import_verify_restore(capsys):
    """Disaster recovery: the catalogue is gone with the database; the files in storage bring everything back."""
    _trade(40)
    with connection.cursor() as cursor:
        before = ledger_rows(cursor)
    record = backup_create(kind=BackupRecord.Kind.DAILY)
    BackupRecord.objects.all().delete()  # the database and its catalogue are lost
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {LEDGER_ENTRIES}, {LEDGER_ACCOUNTS}")

    call_command("backup_import")
    imported = BackupRecord.objects.get()
    assert (imported.location, imported.sha256, imported.manifest) == (record.location, record.sha256, record.manifest)
    assert "1 backup(s) added" in capsys.readouterr().out
    call_command("backup_import")
    assert BackupRecord.objects.count() == 1  # importing twice adds nothing

    with pytest.raises(CommandError, match="not verified"):
        call_command("restore_backup", "latest", "--yes")
    call_command("backup_verify", "latest")
    call_command("restore_backup", "latest", "--yes")
    with connection.cursor() as cursor:
        assert ledger_rows(cursor) == before
