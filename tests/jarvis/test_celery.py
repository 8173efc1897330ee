import pytest
from django.utils import timezone

from jarvis.celery import QUEUES, app, queue_for
from monitoring.models import Heartbeat
from tests.conftest import wait_for


def test_every_task_routes_to_a_declared_queue():
    app.loader.import_default_modules()
    names = [name for name in app.tasks if not name.startswith("celery.")]
    assert names, "no project tasks registered"
    for name in names:
        assert queue_for(name) in QUEUES


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        ("trading.execute_order", "trades"),
        ("trading.tpsl_sweep", "tpsl"),
        ("trading.refresh_prices", "tpsl"),
        ("telegram_app.send_message", "telegram"),
        ("backups.run", "backups"),
        ("monitoring.heartbeat", "default"),
        ("assistant.vibe_answer", "vibe"),
    ],
)
def test_routing_by_task_name(name, queue):
    assert queue_for(name) == queue


IDEMPOTENT_QUEUES = {"trades", "telegram"}  # order execution (client id + state machine) and the outbox (row state)


@pytest.mark.parametrize(
    ("name", "late"),
    [
        ("trading.execute_order", True), ("trading.order_probe", True), ("telegram_app.send_message", True),
        ("telegram_app.outbox_pump", True), ("telegram_app.delete_message", True),
        ("trading.tpsl_sweep", False), ("trading.reconcile_orders", False), ("backups.run", False),
        ("monitoring.heartbeat", False), ("monitoring.alert_webhook", False),
    ],
)
def test_acks_late_only_on_idempotent_queues(name, late):
    """Each task's own flags, as the worker reads them: late acks (and a redelivery when the worker is lost) only for
    tasks of the idempotent queues."""
    app.loader.import_default_modules()
    task = app.tasks[name]
    assert (task.acks_late, task.reject_on_worker_lost) == (late, late)
    for other in (t for n, t in app.tasks.items() if not n.startswith("celery.")):
        assert other.acks_late == other.reject_on_worker_lost == (queue_for(other.name) in IDEMPOTENT_QUEUES), other.name


def test_celery_speaks_json_only_with_prefetch_one():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.worker_send_task_events is True
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_task_through_redis_to_a_real_worker_writes_the_database(celery_worker):
    before = timezone.now()
    app.send_task("monitoring.heartbeat", kwargs={"component": "test-worker"})
    beat = wait_for(lambda: Heartbeat.objects.filter(component="test-worker").first(), message="the heartbeat row")
    assert beat.last_seen >= before
    assert beat.detail == {"via": "celery"}
