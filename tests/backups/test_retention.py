"""Retention keeps what it promises, and never the newest verified backup's file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from backups.models import BackupRecord
from backups.retention import Candidate, Policy, retention_keep
from backups.services import backup_prune
from backups.storage import LocalStorage

START = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(hourly=24, daily=30, monthly=12, manual=10)


def _hours(n: int, kind: str, *, step=timedelta(hours=1), first_id=1, verified=()) -> list[Candidate]:
    return [Candidate(first_id + i, kind, START + i * step, (first_id + i) in verified) for i in range(n)]


def test_the_promised_numbers_of_hourly_daily_and_monthly_backups_are_kept():
    hourly = _hours(24 * 400, "hourly")  # 400 days of hourly backups
    daily = _hours(400, "daily", step=timedelta(days=1), first_id=100_000)
    keep = retention_keep(hourly + daily, POLICY)
    kept_hourly = [c for c in hourly if c.id in keep]
    kept_daily = [c for c in daily if c.id in keep]
    assert [c.id for c in kept_hourly[-24:]] == [c.id for c in hourly[-24:]]  # the newest 24 hourly
    assert [c.id for c in daily[-30:]] == [c.id for c in kept_daily[-30:]]  # the newest 30 daily
    months = {(c.started_at.year, c.started_at.month) for c in kept_daily + kept_hourly}
    assert len(months) == 12  # one per month for the last 12 months with backups
    assert len(keep) <= 24 + 30 + 12 + 2


@given(
    kinds=st.lists(st.sampled_from(["hourly", "daily", "manual", "safety"]), min_size=0, max_size=80),
    gaps=st.lists(st.integers(min_value=1, max_value=60 * 24 * 40), min_size=80, max_size=80),
    verified=st.sets(st.integers(min_value=1, max_value=80)),
    policy=st.builds(Policy, hourly=st.integers(0, 5), daily=st.integers(0, 5), monthly=st.integers(0, 3),
                     manual=st.integers(0, 3)),
)
@hsettings(max_examples=150, deadline=None)
def test_retention_never_drops_the_newest_verified_and_keeps_at_most_the_policy(kinds, gaps, verified, policy):
    candidates, when = [], START
    for i, kind in enumerate(kinds, start=1):
        when += timedelta(minutes=gaps[i - 1])
        candidates.append(Candidate(i, kind, when, i in verified))
    keep = retention_keep(candidates, policy)
    newest_verified = max((c for c in candidates if c.verified), key=lambda c: c.started_at, default=None)
    if newest_verified:
        assert newest_verified.id in keep
    if candidates:
        assert candidates[-1].id in keep
    for kind, count in (("hourly", policy.hourly), ("daily", policy.daily)):
        mine = [c for c in candidates if c.kind == kind]
        assert {c.id for c in mine[-count:]} <= keep if count else True
    assert len(keep) <= policy.hourly + policy.daily + policy.monthly + policy.manual + 2


@pytest.mark.django_db
def test_prune_deletes_files_outside_the_policy_but_keeps_the_newest_verified(settings, backup_settings):
    settings.BACKUP_KEEP_HOURLY, settings.BACKUP_KEEP_DAILY, settings.BACKUP_KEEP_MONTHLY = 3, 0, 0
    settings.BACKUP_KEEP_MANUAL = 0
    storage = LocalStorage(settings.BACKUP_DIR)
    settings.BACKUP_DIR.mkdir(parents=True)
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    records = []
    for i in range(8):
        name = f"jarvis-{i}.dump"
        (settings.BACKUP_DIR / name).write_bytes(b"x")
        (settings.BACKUP_DIR / f"{name}.json").write_text("{}")
        records.append(BackupRecord.objects.create(
            kind="hourly", status="succeeded", engine="postgresql", storage="local", location=name,
            started_at=now - timedelta(hours=8 - i), verified_at=now if i == 1 else None))
    stuck = BackupRecord.objects.create(kind="hourly", status="running", engine="postgresql", storage="local",
                                        started_at=now - timedelta(days=1))
    old_failure = BackupRecord.objects.create(kind="daily", status="failed", engine="postgresql", storage="local",
                                              started_at=now - timedelta(days=90), error="disk full")

    result = backup_prune(now=now)

    kept = {records[1].pk, records[5].pk, records[6].pk, records[7].pk}  # newest verified + the newest 3 hourly
    assert sorted(result.pruned) == sorted(r.pk for r in records if r.pk not in kept)
    for record in records:
        record.refresh_from_db()
        assert storage.exists(record.location) == (record.pk in kept)
        assert storage.exists(record.location + ".json") == (record.pk in kept)
        assert record.status == ("succeeded" if record.pk in kept else "pruned")
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "interrupted" in stuck.error and result.interrupted == 1
    assert not BackupRecord.objects.filter(pk=old_failure.pk).exists()
    assert result.errors == []
