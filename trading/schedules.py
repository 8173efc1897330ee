"""Periodic tasks of the trading app; registered by `manage.py setup_periodic_tasks`."""

from trading.execution.schedules import PERIODIC_TASKS as EXECUTION_TASKS
from trading.tpsl.schedules import PERIODIC_TASKS as TPSL_TASKS

PERIODIC_TASKS = [
    *EXECUTION_TASKS,
    *TPSL_TASKS,
]
