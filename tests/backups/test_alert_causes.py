"""Five backup failures in a row whose cause changes: one open alert that follows the cause, counts every failure and
keeps each one in its history; the admins are told again whenever the cause changed."""

from __future__ import annotations

import pytest

from backups.errors import BackupError
from backups.models import BackupRecord
from backups.services import backup_create
from monitoring.models import AlertEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backup_settings")]


def test_five_backup_failures_with_a_changing_cause_update_one_alert_and_keep_each_cause(settings, tmp_path):
    from telegram_app.models import OutboxMessage

    settings.TELEGRAM_ADMIN_IDS = [900001]
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a directory should be")
    good_store, good_staging = settings.BACKUP_DIR, settings.BACKUP_STAGING_DIR

    def staging_blocked():
        settings.BACKUP_DIR, settings.BACKUP_STAGING_DIR = good_store, blocker / "staging"

    def store_blocked():
        settings.BACKUP_DIR, settings.BACKUP_STAGING_DIR = blocker / "store", good_staging

    causes = [staging_blocked, staging_blocked, store_blocked, store_blocked, staging_blocked]
    for cause in causes:
        cause()
        with pytest.raises(BackupError):
            backup_create(kind=BackupRecord.Kind.HOURLY)

    records = list(BackupRecord.objects.order_by("pk"))
    assert [r.status for r in records] == ["failed"] * 5
    assert [("staging" in r.error, "could not store" in r.error) for r in records] == [
        (True, False), (True, False), (False, True), (False, True), (True, False)]

    event = AlertEvent.objects.get(target="backups:backup-failed")  # one alert, not five
    assert event.state == "firing" and event.count == 5
    assert f"Backup {records[-1].pk} (hourly) failed" in event.message and "staging" in event.message
    history = list(event.occurrences.values_list("message", flat=True))
    assert len(history) == 5
    for record, message in zip(records, history, strict=True):
        assert f"Backup {record.pk} (hourly) failed" in message and record.error[:100] in message
    assert event.last_seen_at >= event.occurrences.first().at

    # The admins heard of each new cause (every failure names its own backup, so each one is new), with the count.
    texts = list(OutboxMessage.objects.filter(kind="alert", chat_id=900001).order_by("id").values_list("text", flat=True))
    assert len(texts) == 5
    assert f"Backup {records[0].pk} (hourly) failed" in texts[0] and "times since" not in texts[0]
    assert f"Backup {records[-1].pk} (hourly) failed" in texts[-1] and "(5 times since" in texts[-1]
