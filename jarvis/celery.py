"""The Celery app: Redis broker, one queue per kind of work, routing by task name, JSON only."""

from __future__ import annotations

import fnmatch
import logging.config
import os

from celery import Celery, signals
from django.db import close_old_connections
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jarvis.settings")

from jarvis.config import exit_on_config_error  # noqa: E402

exit_on_config_error()

from django.conf import settings  # noqa: E402

from jarvis import logging as corr  # noqa: E402

# Message header naming the TRADING_MODE of the process that published the task: beat's heartbeat task reports beat's
# own mode (monitoring.modes), not the mode of the worker that runs it.
MODE_HEADER = "jarvis_mode"

QUEUES = ("trades", "tpsl", "telegram", "backups", "default", "vibe")

# Routing by task name, first match wins. Task names are explicit (`app.verb_noun`), never derived from modules.
ROUTES = (
    ("trading.execute_order", "trades"),
    ("trading.order_*", "trades"),
    ("trading.tpsl_*", "tpsl"),
    ("trading.refresh_prices", "tpsl"),
    ("trading.dca_*", "tpsl"),
    ("trading.launches_*", "tpsl"),
    ("telegram_app.*", "telegram"),
    ("backups.*", "backups"),
    ("assistant.*", "vibe"),
    ("*", "default"),
)

# Acknowledgement policy per queue (CONVENTIONS.md): late acks only where the task is idempotent by
# construction. Order execution is made idempotent by its client id and state machine; outbound
# messages by the outbox row's state. Price sweeps are periodic (the next tick covers a lost one) and
# a backup redelivered mid-run would start a second dump, so both ack early.
ACKS_LATE = {"trades": True, "telegram": True, "tpsl": False, "backups": False, "default": False, "vibe": False}


def queue_for(task_name: str) -> str:
    for pattern, queue in ROUTES:
        if fnmatch.fnmatchcase(task_name, pattern):
            return queue
    return "default"


def route_task(name, args, kwargs, options, task=None, **kw):
    return {"queue": queue_for(name)}


class QueuePolicy:
    """Task annotation: applies the queue's acknowledgement policy to every task routed to it."""

    def annotate(self, task):
        late = ACKS_LATE[queue_for(task.name)]
        return {"acks_late": late, "reject_on_worker_lost": late}


# REDIS_URL a sentinel:// list: the broker and the result backend ask the sentinels for this master (Celery's form).
SENTINEL_OPTIONS = (
    {"master_name": settings.REDIS_SENTINEL_MASTER} if settings.CELERY_BROKER_URL.startswith("sentinel://") else {}
)

app = Celery("jarvis")
app.conf.update(
    broker_url=settings.CELERY_BROKER_URL,
    result_backend=settings.CELERY_RESULT_BACKEND,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 3600, "socket_connect_timeout": 5, "socket_timeout": 10,
                              **SENTINEL_OPTIONS},
    result_backend_transport_options={"socket_connect_timeout": 5, "socket_timeout": 10, **SENTINEL_OPTIONS},
    result_expires=3600,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    event_serializer="json",
    timezone="UTC",
    enable_utc=True,
    task_queues=[Queue(name, routing_key=name) for name in QUEUES],
    task_default_queue="default",
    task_routes=(route_task,),
    task_annotations=(QueuePolicy(),),
    task_create_missing_queues=False,
    task_soft_time_limit=settings.CELERY_DEFAULT_SOFT_TIME_LIMIT,
    task_time_limit=settings.CELERY_DEFAULT_TIME_LIMIT,
    task_track_started=True,
    task_send_sent_event=True,
    worker_send_task_events=True,
    worker_prefetch_multiplier=1,
    worker_max_tasks_per_child=settings.CELERY_MAX_TASKS_PER_CHILD,
    worker_max_memory_per_child=settings.CELERY_MAX_MEMORY_PER_CHILD_KB,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    worker_soft_shutdown_timeout=float(settings.CELERY_SOFT_SHUTDOWN_SECONDS),
    beat_scheduler="jarvis.beat:LeasedScheduler",  # django-celery-beat's DatabaseScheduler behind a lock
)
# Celery's Django fixup closes every database connection before and after each task, so each task paid for a new
# Postgres connection (a backend fork: milliseconds, more on a busy machine) before its first query. Workers follow
# Django's per-request rule instead (below): keep the connection for CONN_MAX_AGE, drop it when an error broke it.
app.conf.CELERY_DB_REUSE_MAX = 2**62  # the fixup's "close every N tasks" counter: never; _database_connections decides
app.autodiscover_tasks()
app.autodiscover_tasks(["trading.tpsl"])  # the exit engine's tasks (trading/tpsl/tasks.py)


@signals.setup_logging.connect
def _use_django_logging(**kwargs):
    """Celery logs through Django's LOGGING (connecting this signal stops Celery configuring its own)."""
    logging.config.dictConfig(settings.LOGGING)


def request_header(request, name: str) -> str | None:
    """A header of our own on a task's request (an attribute of the request, or in its headers when run eagerly)."""
    value = getattr(request, name, None)
    if value is None and isinstance(request.headers, dict):
        value = request.headers.get(name)
    return value


@signals.before_task_publish.connect
def _stamp_headers(headers=None, **kwargs):
    """Every message carries the correlation id in effect and the publisher's trading mode."""
    if headers is None:
        return
    value = corr.get()
    if value:
        headers.setdefault(corr.HEADER, value)
    headers.setdefault(MODE_HEADER, settings.TRADING_MODE)


@signals.task_prerun.connect
def _bind_correlation_id(task=None, **kwargs):
    if task is None:
        corr.bind(None)
        return
    corr.bind(request_header(task.request, corr.HEADER) or task.request.id)


@signals.task_postrun.connect
def _unbind_correlation_id(**kwargs):
    corr.bind(None)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _database_connections(task=None, **kwargs):
    """What Django does around every request: close a connection that is past CONN_MAX_AGE (DATABASE_CONN_MAX_AGE;
    0 closes it every time), or that an error left unusable; the next query reconnects. Not for eager tasks, which run
    inside their caller's connection and transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return

    close_old_connections()
