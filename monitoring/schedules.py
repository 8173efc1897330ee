"""Periodic tasks this app asks beat to run; registered by `manage.py setup_periodic_tasks`."""

from django.conf import settings

PERIODIC_TASKS = [
    {
        "name": "beat heartbeat",
        "task": "monitoring.heartbeat",
        "every_seconds": settings.MONITORING_BEAT_INTERVAL_SECONDS,
        "kwargs": {"component": "beat"},
        "description": "Proves beat schedules and a default-queue worker runs.",
    },
    {
        "name": "evaluate alert rules",
        "task": "monitoring.evaluate_alerts",
        "every_seconds": 30,
        "description": "Raises and resolves alert events; notifies the admins.",
    },
    {
        "name": "record uptime",
        "task": "monitoring.record_uptime",
        "every_seconds": 60,
        "description": "One up/down row per component and minute.",
    },
    {
        "name": "prune uptime history",
        "task": "monitoring.prune_uptime",
        "crontab": {"minute": "17", "hour": "3"},
        "description": "Deletes uptime rows older than MONITORING_UPTIME_KEEP_DAYS.",
    },
    {
        "name": "sync provider usage",
        "task": "monitoring.sync_budgets",
        "every_seconds": 300,
        "description": "Copies provider call counters from Redis into the daily usage table.",
    },
]
