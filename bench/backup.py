"""Backup benchmark: back up, verify and restore a desk with 1,000,000 orders and 100,000 positions, against raw pg_dump.

    .venv/bin/python bench/backup.py [--orders N] [--positions N] [--rounds N]

Builds a dedicated database (jarvis_backups_bench on BENCH_DATABASE_SERVER, default postgres://postgres@127.0.0.1:5432),
migrates it, fills the real trading tables (orders, positions, traders, tokens) with generated rows, then measures in
the same run: raw `pg_dump -Fc` with its default settings (the baseline), our backup job (dump on an exported snapshot
+ same-snapshot manifest + encryption + SHA-256 + fsync + atomic store), verification (restore into a scratch database + compare),
and a restore over the live database (pg_restore --clean in one transaction; the safety backup is timed apart).
Best of --rounds for the two dumps (a noisy shared machine). The database is dropped at the end.

Then point-in-time recovery on a scratch cluster (initdb on a spare port, WAL archived encrypted into the backup storage
through backups/wal.py, archive_timeout as docs/runbooks/backup-restore.md recommends): a base backup, --pitr-orders
orders, a moment, as many again, the last segment archived (its lag measured), the cluster destroyed, and
`restore_backup --to-time` timed until the restored cluster promoted with exactly the first orders. rpo_s is the worst
loss: archive_timeout plus the measured archive lag.
Last line: {"bench": "backup", "rows", "backup_s", "pg_dump_s", "backup_over_pg_dump", "verify_s", "restore_s", "bytes",
"rpo_s", "pitr_restore_s", ...}.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DB_NAME = "jarvis_backups_bench"
WORK = Path(tempfile.mkdtemp(prefix="jarvis-backups-bench-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))

os.environ.update({
    "DATABASE_URL": f"{SERVER}/{DB_NAME}", "DJANGO_SETTINGS_MODULE": "jarvis.settings", "JARVIS_IGNORE_DOTENV": "true",
    "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-not-for-production"), "LOG_LEVEL": "warning",
    "BACKUP_STORAGE": "local", "BACKUP_DIR": str(WORK / "store"), "BACKUP_SCRATCH_DB_PREFIX": "jarvis_backups_bench_verify",
    "BACKUP_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),  # encrypted at rest, as in production
})

# Type -> generated value for NOT NULL columns the bench does not set itself (so new model fields do not break it).
_TYPE_FILL = {"bigint": "0", "integer": "0", "smallint": "0", "numeric": "0", "boolean": "false", "text": "''",
              "character varying": "''", "timestamp with time zone": "now()", "jsonb": "'{}'::jsonb",
              "uuid": "gen_random_uuid()", "bytea": "''::bytea", "date": "current_date"}


def fill(cursor, table: str, count: int, values: dict[str, str]) -> None:
    """INSERT ... SELECT over generate_series(1, count) AS g: ``values`` (SQL using g) plus a filler for every other
    NOT NULL column without a database default."""
    cursor.execute("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                   "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", [table])
    columns = {}
    for name, data_type, nullable, default in cursor.fetchall():
        if name in values:
            columns[name] = values[name]
        elif nullable == "NO" and default is None and name != "id":
            columns[name] = _TYPE_FILL[data_type]
    missing = set(values) - set(columns)
    if missing:
        raise SystemExit(f"{table} has no column(s) {sorted(missing)}: the trading models changed, update bench/backup.py")
    cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - bench-only SQL, fixed identifiers
                   f"SELECT {', '.join(columns.values())} FROM generate_series(1, {count}) AS g")


def build(*, orders: int, positions: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        fill(cursor, "trading_trader", 100, {"name": "'trader ' || g", "created_at": "now()", "is_paused": "false"})
        fill(cursor, "trading_token", 500, {"mint": "'Mint' || lpad(g::text, 40, '0')", "symbol": "'T' || g",
                                            "decimals": "6 + g % 4", "created_at": "now()"})
        fill(cursor, "trading_position", positions, {
            "trader_id": "1 + g % 100", "token_id": "1 + g % 500", "mode": "'paper'",
            "status": "CASE WHEN g % 5 = 0 THEN 'open' ELSE 'closed' END",
            "size": "CASE WHEN g % 5 = 0 THEN 1000000 + g ELSE 0 END", "original_size": "1000000 + g",
            "cost_lamports": "CASE WHEN g % 5 = 0 THEN 50000000 + g ELSE 0 END",
            "entry_price": "0.000001234567 * (1 + g % 97)", "realised_pnl_lamports": "(g % 2001 - 1000) * 1000",
            "stop_price": "0.000001 * (1 + g % 89)", "take_profit_price": "0.000002 * (1 + g % 89)",
            "opened_at": "now() - g * interval '1 minute'", "created_at": "now() - g * interval '1 minute'",
            "updated_at": "now()"})
        fill(cursor, "trading_order", orders, {
            "position_id": f"1 + g % {positions}", "side": "CASE WHEN g % 3 = 0 THEN 'sell' ELSE 'buy' END",
            "reason": "'manual'", "mode": "'paper'", "venue": "'paper'", "client_id": "gen_random_uuid()",
            "status": "'confirmed'", "amount_in": "1000000 + g", "amount_out_expected": "2000000 + g",
            "min_amount_out": "1900000 + g", "amount_out_actual": "1990000 + g",
            "fill_price": "0.000001234567 * (1 + g % 97)", "fee_lamports": "5000 + g % 1000",
            "signature": "md5(g::text) || md5((g + 1)::text)", "attempts": "1", "error": "''",
            "created_at": "now() - g * interval '1 second'", "updated_at": "now()",
            "confirmed_at": "now() - g * interval '1 second'"})
        cursor.execute("VACUUM ANALYZE")


def server_sql(statement: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{SERVER}/postgres", "-c", statement], check=True)


ARCHIVE_TIMEOUT_S = 55  # docs/runbooks/backup-restore.md: a segment at least every 55 s, stored within the minute


def pitr_drill(*, orders: int) -> dict:
    """Base backup, orders, a moment, more orders, archive, destroy, restore to the moment: the figures."""
    from tests.backups.pitr_cluster import ScratchCluster

    cluster = ScratchCluster(archive_timeout=ARCHIVE_TIMEOUT_S)  # with the bench's BACKUP_ENCRYPTION_KEY
    restored = cluster.root / "restored"
    try:
        cluster.init()
        cluster.start()
        cluster.sql("CREATE TABLE trading_order_book (id bigserial PRIMARY KEY, client_id uuid NOT NULL, "
                    "amount_lamports bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp())")
        cluster.manage("base_backup")
        insert = (f"INSERT INTO trading_order_book (client_id, amount_lamports) "  # noqa: S608 - bench-only SQL
                  f"SELECT gen_random_uuid(), 1000000 + g FROM generate_series(1, {orders}) AS g")
        cluster.sql(insert)
        (moment,) = cluster.sql("SELECT clock_timestamp()")[0]
        cluster.sql(insert)
        lag_s, _ = timed(cluster.switch_and_wait_archived)
        segments = sum(1 for p in cluster.store.iterdir() if p.name.startswith("wal-"))
        cluster.destroy()
        restore_s, _ = timed(lambda: cluster.manage("restore_backup", "--to-time", moment.isoformat(), "--data-dir",
                                                    str(restored), "--start"))
        (count,) = cluster.sql("SELECT count(*) FROM trading_order_book")[0]
        assert count == orders, (count, orders)
        return {"archive_timeout_s": ARCHIVE_TIMEOUT_S, "archive_lag_s": lag_s, "pitr_restore_s": restore_s,
                "wal_segments": segments, "pitr_orders": orders}
    finally:
        cluster.cleanup(restored)


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--positions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pitr-orders", type=int, default=200_000, help="orders on each side of the recovery moment")
    args = parser.parse_args()

    server_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    server_sql(f"CREATE DATABASE {DB_NAME}")
    try:
        import django

        django.setup()
        from django.conf import settings

        from backups import pg
        from backups.services import backup_create, backup_restore, backup_verify

        build_s, _ = timed(lambda: build(orders=args.orders, positions=args.positions))
        print(f"built {DB_NAME}: {args.orders:,} orders, {args.positions:,} positions on the real trading tables "
              f"in {build_s:.1f}s")
        raw_file = WORK / "raw.dump"
        target = pg.PgTarget.from_django(settings.DATABASES["default"])
        raw_times, ours, same_level = [], [], []
        for _ in range(args.rounds):
            raw_file.unlink(missing_ok=True)
            seconds, _ = timed(lambda: subprocess.run([pg.pg_bin("pg_dump"), "-Fc", f"--file={raw_file}", DB_NAME],
                                                      env=target.env(), check=True))
            raw_times.append(seconds)
            ours.append(timed(lambda: backup_create(kind="manual")))
            level, settings.BACKUP_COMPRESS_LEVEL = settings.BACKUP_COMPRESS_LEVEL, 6  # pg_dump's own default level
            same_level.append(timed(lambda: backup_create(kind="manual"))[0])
            settings.BACKUP_COMPRESS_LEVEL = level
        raw_bytes = raw_file.stat().st_size
        backup_s, record = min(ours, key=lambda pair: pair[0])
        pg_dump_s = min(raw_times)
        verify_s, verified = timed(lambda: backup_verify(record_id=record.pk))
        assert verified.is_verified
        restore_total_s, result = timed(lambda: backup_restore(record_id=record.pk))
        assert not result.problems, result.problems
        rows = sum(t["rows"] for name, t in record.manifest["tables"].items() if name in ("trading_order", "trading_position"))
        print(f"raw pg_dump -Fc (default compression): best {pg_dump_s:.2f}s of {[round(t, 2) for t in raw_times]}, "
              f"{raw_bytes:,} bytes")
        print(f"our backup job (compression level {settings.BACKUP_COMPRESS_LEVEL}, manifest of "
              f"{len(record.manifest['tables'])} money tables, AES-256-GCM, SHA-256, fsync, atomic store): best {backup_s:.2f}s of "
              f"{[round(t, 2) for t, _ in ours]}, {record.size_bytes:,} bytes -> {backup_s / pg_dump_s:.2f}x pg_dump")
        print(f"our backup job at pg_dump's default compression (6), for comparison: best {min(same_level):.2f}s "
              f"-> {min(same_level) / pg_dump_s:.2f}x pg_dump")
        print(f"verify (pg_restore -j{settings.BACKUP_RESTORE_JOBS} into a scratch database + compare): {verify_s:.2f}s")
        print(f"restore over the live database (pg_restore --clean, one transaction): {result.seconds:.2f}s; "
              f"with the safety backup first: {restore_total_s:.2f}s")
        pitr = pitr_drill(orders=args.pitr_orders)
        rpo_s = pitr["archive_timeout_s"] + pitr["archive_lag_s"]
        print(f"point-in-time recovery: {pitr['pitr_orders']:,} orders each side of the moment, "
              f"{pitr['wal_segments']} WAL files archived encrypted; last segment stored {pitr['archive_lag_s']:.2f}s "
              f"after its switch -> at most {rpo_s:.1f}s of orders lost (archive_timeout {pitr['archive_timeout_s']}s); "
              f"restore to the moment (base backup + replay + promote): {pitr['pitr_restore_s']:.2f}s "
              f"-> {pitr['pitr_restore_s'] / result.seconds:.2f}x the dump's restore")
        print(json.dumps({"bench": "backup", "rows": rows, "backup_s": round(backup_s, 2), "pg_dump_s": round(pg_dump_s, 2),
                          "backup_over_pg_dump": round(backup_s / pg_dump_s, 3), "verify_s": round(verify_s, 2),
                          "restore_s": round(result.seconds, 2), "bytes": record.size_bytes,
                          "restore_with_safety_backup_s": round(restore_total_s, 2), "pg_dump_bytes": raw_bytes,
                          "compress_level": settings.BACKUP_COMPRESS_LEVEL,
                          "backup_at_level_6_over_pg_dump": round(min(same_level) / pg_dump_s, 3),
                          "rpo_s": round(rpo_s, 2), "archive_lag_s": round(pitr["archive_lag_s"], 2),
                          "pitr_restore_s": round(pitr["pitr_restore_s"], 2), "pitr_orders": pitr["pitr_orders"],
                          "pitr_restore_over_restore": round(pitr["pitr_restore_s"] / result.seconds, 3)}))
    finally:
        from django.db import connections

        connections.close_all()
        server_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
