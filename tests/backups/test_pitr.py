"""Point-in-time recovery on a cluster the test starts itself: WAL archived through backups/wal.py into the
(encrypted) backup storage, the project's migrations, a base backup, orders in trading_order, the cluster destroyed,
`restore_backup --to-time` between two orders."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backups import crypto
from backups.pitr import SEGMENT, segment_name, wal_gaps
from tests.backups.pitr_cluster import ROOT, ScratchCluster

SEGMENT_SIZE = 16 * 1024 * 1024


@pytest.fixture
def cluster():
    scratch = ScratchCluster(env={"BACKUP_ENCRYPTION_KEY": crypto.key_new()})
    restored = scratch.root / "restored"
    scratch.init()
    scratch.start()
    yield scratch
    scratch.cleanup(restored)


def _order(cluster: ScratchCluster, position: int, memo: str) -> None:
    """A confirmed buy in the project's trading_order table; ``memo`` lands in its error column to tell orders apart."""
    cluster.insert("trading_order", {"position_id": str(position), "side": "'buy'", "reason": "'manual'", "mode": "'paper'",
                                     "venue": "'paper'", "status": "'confirmed'", "amount_in": "1000000",
                                     "signature": f"'sig-{memo}'", "error": f"'{memo}'", "created_at": "clock_timestamp()",
                                     "updated_at": "clock_timestamp()"})


def test_restore_to_a_moment_between_two_orders_finds_exactly_the_first(cluster):
    cluster.manage("migrate", "--verbosity=0")  # the project's schema, trading tables included
    trader = cluster.insert("trading_trader", {"name": "'pitr'", "created_at": "now()"})
    token = cluster.insert("trading_token", {"mint": "'Mint" + "0" * 40 + "'", "symbol": "'PITR'", "decimals": "6",
                                             "created_at": "now()"})
    position = cluster.insert("trading_position", {
        "trader_id": str(trader), "token_id": str(token), "mode": "'paper'", "status": "'open'", "size": "1000000",
        "original_size": "1000000", "cost_lamports": "50000000", "created_at": "now()", "updated_at": "now()"})
    _order(cluster, position, "before the base backup")
    out = cluster.manage("base_backup").stdout
    assert "base backup base-" in out
    _order(cluster, position, "first")
    cluster.switch_and_wait_archived()
    (moment,) = cluster.sql("SELECT clock_timestamp()")[0]
    middle = cluster.switch_and_wait_archived()  # an empty segment between the two orders
    _order(cluster, position, "second")
    last = cluster.switch_and_wait_archived()
    stored = sorted(p.name for p in cluster.store.iterdir())
    assert f"wal-{middle}.gz.enc" in stored and f"wal-{last}.gz.enc" in stored
    assert not any(p.read_bytes().count(b"second") for p in cluster.store.iterdir())  # encrypted at rest
    cluster.destroy()

    restored = cluster.root / "restored"
    hole = cluster.store / f"wal-{middle}.gz.enc"
    hole.rename(cluster.root / "aside")
    refused = cluster.manage("restore_backup", "--to-time", moment.isoformat(), "--data-dir", str(restored),
                             "--start", check=False)
    assert refused.returncode != 0
    assert f"WAL segment {middle} is missing" in refused.stderr and "nothing was restored" in refused.stderr
    assert not restored.exists()
    (cluster.root / "aside").rename(hole)

    key = cluster.env["BACKUP_ENCRYPTION_KEY"]
    cluster.env["BACKUP_ENCRYPTION_KEY"] = crypto.key_new()  # the key of the archive is lost
    lost = cluster.manage("restore_backup", "--to-time", moment.isoformat(), "--data-dir", str(restored), check=False)
    assert lost.returncode != 0 and f"encrypted under key {crypto.key_id(crypto.key_parse(key))}" in lost.stderr
    assert not restored.exists()
    cluster.env["BACKUP_ENCRYPTION_KEY"] = key

    done = cluster.manage("restore_backup", "--to-time", moment.isoformat(), "--data-dir", str(restored), "--start")
    assert "promoted" in done.stdout
    assert cluster.sql("SELECT error FROM trading_order ORDER BY id") == [("before the base backup",), ("first",)]
    assert cluster.sql("SELECT count(*) FROM trading_position") == [(1,)]
    assert cluster.sql("SELECT pg_is_in_recovery()") == [(False,)]


def test_the_wal_commands_answer_missing_refuse_bad_names_and_clashes_and_round_trip(cluster):
    missing = cluster.manage("restore_wal", "0000000100000000000000FF", str(cluster.root / "x"), check=False)
    assert missing.returncode == 1 and "not in the archive" in missing.stderr
    bad = cluster.manage("archive_wal", "pg_wal/whatever", "whatever", check=False)
    assert bad.returncode == 1 and "not a WAL file name" in bad.stderr

    wal = [sys.executable, str(ROOT / "backups" / "wal.py")]
    segment = cluster.root / "segment"
    segment.write_bytes(b"one segment" * 1000)
    for _ in range(2):  # archiving the same file again succeeds (Postgres retries after a crash)
        cluster.run([*wal, "archive", str(segment), "0000000100000000000000F0"])
    segment.write_bytes(b"another cluster's segment" * 1000)
    clash = cluster.run([*wal, "archive", str(segment), "0000000100000000000000F0"], check=False)
    assert clash.returncode == 1 and "already archived with different content" in clash.stderr
    back = cluster.root / "back"
    cluster.run([*wal, "restore", "0000000100000000000000F0", str(back)])
    assert back.read_bytes() == b"one segment" * 1000


@given(start=st.integers(0, 5000), length=st.integers(1, 40), holes=st.sets(st.integers(0, 39), max_size=4))
def test_a_gap_in_the_archive_is_named_whatever_its_place(start, length, holes):
    names = [segment_name(timeline=1, lsn=f"{(n * SEGMENT_SIZE) >> 32:X}/{(n * SEGMENT_SIZE) & 0xFFFFFFFF:X}",
                          segment_size=SEGMENT_SIZE) for n in range(start, start + length)]
    assert all(SEGMENT.match(n) for n in names)
    holes = {h for h in holes if 0 < h < length - 1}
    present = [n for i, n in enumerate(names) if i not in holes]
    problems = wal_gaps(archived=present, start=names[0], end=names[0], segment_size=SEGMENT_SIZE)
    assert [p.split()[2] for p in problems] == [names[i] for i in sorted(holes)]
