"""The periodic tasks the apps declare (`<app>/schedules.py`): registered by `manage.py setup_periodic_tasks`, and
read by the log filter that keeps each run of the frequent ones out of the INFO log (jarvis.logging)."""

from __future__ import annotations

import importlib

from django.apps import apps


def declared_schedules() -> list[dict]:
    found = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name == f"{config.name}.schedules":
                continue
            raise
        found.extend(getattr(module, "PERIODIC_TASKS", []))
    return found


def routine_task_names() -> frozenset[str]:
    """Tasks beat runs on an interval (every second to every few minutes): each run is housekeeping."""
    return frozenset(spec["task"] for spec in declared_schedules() if "every_seconds" in spec)
