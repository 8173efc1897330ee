"""Periodic tasks of the telegram app; registered by `manage.py setup_periodic_tasks`."""

PERIODIC_TASKS = [
    {
        "name": "telegram outbox sweep",
        "task": "telegram_app.outbox_sweep",
        "every_seconds": 30,
        "description": "Queues outbox messages a dead worker left behind and delivers trading events missed by a crash.",
    },
]
