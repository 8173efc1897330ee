"""Periodic tasks of the trading app; registered by `manage.py setup_periodic_tasks`."""

from trading.execution.schedules import PERIODIC_TASKS as EXECUTION_TASKS
from django.conf import settings

from trading.tpsl.schedules import PERIODIC_TASKS as TPSL_TASKS

PERIODIC_TASKS = [
    *EXECUTION_TASKS,
    *TPSL_TASKS,
    {
        "name": "dca buys",
        "task": "trading.dca_run",
        "every_seconds": settings.DCA_TICK_SECONDS,
        "expire_seconds": settings.DCA_TICK_SECONDS,
        "description": "Place the DCA buys that are due (each an ordinary buy), and end plans whose stop condition is met.",
    },
    {
        "name": "bags.fm launches",
        "task": "trading.launches_follow",
        "every_seconds": settings.LAUNCH_TICK_SECONDS,
        "expire_seconds": settings.LAUNCH_TICK_SECONDS,
        "description": "Poll bags.fm's launch feed: tell watchers of a graduation, place buys on launch or graduation.",
    },
]
