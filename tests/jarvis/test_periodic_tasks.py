import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from jarvis.periodic import declared_schedules


@pytest.mark.django_db
def test_setup_periodic_tasks_is_idempotent_and_keeps_operator_edits():
    call_command("setup_periodic_tasks")
    names = {spec["name"] for spec in declared_schedules()}
    assert names and set(PeriodicTask.objects.values_list("name", flat=True)) >= names
    count = PeriodicTask.objects.count()

    task = PeriodicTask.objects.get(name="beat heartbeat")
    task.interval.every  # noqa: B018
    from django_celery_beat.models import IntervalSchedule

    slower, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    task.interval = slower
    task.save()

    call_command("setup_periodic_tasks")
    assert PeriodicTask.objects.count() == count
    assert PeriodicTask.objects.get(name="beat heartbeat").interval.every == 60

    call_command("setup_periodic_tasks", "--reset-schedules")
    assert PeriodicTask.objects.get(name="beat heartbeat").interval.every == 10


def test_every_declared_schedule_names_a_registered_task():
    from jarvis.celery import app

    app.loader.import_default_modules()
    for spec in declared_schedules():
        assert spec["task"] in app.tasks, spec["name"]


@pytest.mark.django_db
def test_beat_sends_the_tpsl_sweep_with_an_expiry_of_one_interval(settings):
    """A sweep tick nobody took within one interval is dropped by the worker that finally gets it: ticks never pile
    up behind a busy or hung worker (beat's own entry, as django-celery-beat's scheduler builds it)."""
    from django_celery_beat.schedulers import ModelEntry

    from jarvis.celery import app

    call_command("setup_periodic_tasks")
    task = PeriodicTask.objects.get(name="tpsl sweep")
    assert task.expire_seconds == settings.TPSL_INTERVAL_SECONDS
    entry = ModelEntry(task, app=app)
    assert entry.options["expires"] == settings.TPSL_INTERVAL_SECONDS
    assert PeriodicTask.objects.get(name="beat heartbeat").expire_seconds is None  # others keep every message
