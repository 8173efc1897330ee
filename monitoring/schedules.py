"""Periodic tasks this app asks beat to run; registered by `manage.py setup_periodic_tasks`."""

PERIODIC_TASKS = [
    {
        "name": "beat heartbeat",
        "task": "monitoring.heartbeat",
        "every_seconds": 10,
        "kwargs": {"component": "beat"},
        "description": "Proves beat schedules and a default-queue worker runs.",
    },
]
