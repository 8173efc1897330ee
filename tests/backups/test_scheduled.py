"""The scheduled jobs run through a real Celery worker; the admin shows the catalogue and starts a backup."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from backups.models import BackupRecord
from tests.conftest import wait_for
from tests.fixtures.backups import LEDGER_ENTRIES

pytestmark = pytest.mark.usefixtures("backup_settings", "test_ledger")


def _fire(name: str):
    """What beat does when a periodic task is due: send its task by name with its stored arguments."""
    from jarvis.celery import app

    task = PeriodicTask.objects.get(name=name)
    return app.send_task(task.task, args=json.loads(task.args), kwargs=json.loads(task.kwargs))


def test_the_hourly_schedule_backs_up_verifies_and_prunes_through_a_real_worker(celery_worker, settings):
    call_command("setup_periodic_tasks")
    hourly = PeriodicTask.objects.get(name="backups: hourly")
    assert hourly.crontab.minute == "5" and json.loads(hourly.kwargs) == {"kind": "hourly"}
    assert PeriodicTask.objects.get(name="backups: daily").crontab.hour == "3"

    assert _fire("backups: verify newest").get(timeout=60) == {"backup_id": None, "skipped": "no successful backup yet"}
    assert _fire("backups: hourly").get(timeout=120)["backup_id"]
    record = BackupRecord.objects.get(kind=BackupRecord.Kind.HOURLY)
    assert record.status == BackupRecord.Status.SUCCEEDED and LEDGER_ENTRIES in record.manifest["tables"]

    assert _fire("backups: verify newest").get(timeout=120)["backup_id"] == record.pk
    record.refresh_from_db()
    assert record.is_verified

    settings.BACKUP_KEEP_HOURLY = 0
    assert _fire("backups: hourly").get(timeout=120)
    outcome = _fire("backups: prune").get(timeout=60)
    newer = BackupRecord.objects.exclude(pk=record.pk).get()
    # Keep-hourly 0 keeps only the newest backup and the newest verified one: nothing to prune yet.
    assert outcome["pruned"] == [] and newer.status == BackupRecord.Status.SUCCEEDED


def test_a_failing_scheduled_backup_is_recorded_and_the_task_fails(celery_worker, settings, tmp_path):
    settings.PG_BIN_DIR = str(tmp_path / "no-such-bin")
    call_command("setup_periodic_tasks")
    result = _fire("backups: hourly")
    with pytest.raises(Exception, match="pg_dump was not found"):
        result.get(timeout=120)
    assert BackupRecord.objects.get().status == BackupRecord.Status.FAILED


def test_the_admin_lists_backups_and_backs_up_now(celery_worker, admin_client):
    changelist = reverse("admin:backups_backuprecord_changelist")
    page = admin_client.get(changelist)
    assert page.status_code == 200 and b"Back up now" in page.content

    assert admin_client.get(reverse("admin:backups_backup_now")).status_code == 405
    answer = admin_client.post(reverse("admin:backups_backup_now"))
    assert answer.status_code == 302
    record = wait_for(lambda: BackupRecord.objects.filter(kind="manual", status="succeeded").first(), timeout=120,
                      message="the manual backup")

    page = admin_client.get(changelist)
    assert str(record.size_bytes).encode() in page.content and b"not yet" in page.content
    answer = admin_client.post(changelist, {"action": "verify_selected", "_selected_action": [record.pk]})
    assert answer.status_code == 302
    wait_for(lambda: BackupRecord.objects.get(pk=record.pk).verified_at, timeout=120, message="verification")
    assert b"failed:" not in admin_client.get(changelist).content


def test_a_viewer_sees_backups_but_cannot_start_or_verify_one(client):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    call_command("setup_operator_groups")
    viewer = get_user_model().objects.create_user(username="viewer-b", password="x" * 16, is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewer"))
    operator = get_user_model().objects.create_user(username="operator-b", password="x" * 16, is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    changelist = reverse("admin:backups_backuprecord_changelist")
    from django.utils import timezone

    BackupRecord.objects.create(kind="hourly", status="succeeded", engine="postgresql", storage="local",
                                location="jarvis-x.dump", started_at=timezone.now(), size_bytes=4242)

    client.force_login(viewer)
    page = client.get(changelist)
    assert page.status_code == 200 and b"4242" in page.content and b"Back up now" not in page.content and b"verify_selected" not in page.content
    answer = client.post(reverse("admin:backups_backup_now"), follow=True)
    assert [str(m) for m in answer.context["messages"]] == ["you may not start backups"]

    assert operator.has_perm("backups.run_backup") and not viewer.has_perm("backups.run_backup")
    client.force_login(operator)
    page = client.get(changelist)
    assert b"Back up now" in page.content and b"verify_selected" in page.content
