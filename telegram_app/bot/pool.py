"""Optional process pool for the router (TELEGRAM_BOT_PROCESSES > 0): one `getUpdates` consumer, the handler
work spread over processes so a busy bot uses every core. Imports no model at module level: spawned children
import this module, then set Django up in `child_init` before the first update arrives (so the router, which
needs the models, is imported only then)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import django
from django.conf import settings
from django.db import connection

# Settings a child must share with its parent even when the parent's were changed at run time (tests).
SHARED = ("SECRET_KEY", "REDIS_URL", "TELEGRAM_ADMIN_IDS", "TELEGRAM_COMMANDS_PER_MINUTE", "TELEGRAM_COMMAND_BURST",
          "TELEGRAM_API_URL", "CELERY_BROKER_URL")


def child_init(overrides: dict) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jarvis.settings")
    django.setup()
    settings.DATABASES["default"]["NAME"] = overrides.pop("_DB_NAME", settings.DATABASES["default"]["NAME"])
    persistent = overrides.pop("_PERSISTENT_DB", False)
    for name, value in overrides.items():
        setattr(settings, name, value)
    if persistent:
        persistent_db_connections()


def persistent_db_connections():
    """The bot's handler threads (and processes) keep their database connection between updates: opening one
    per update (Postgres forks a backend for each) cost more CPU than the queries. The health check Django
    runs before a reused connection's first query replaces it when the database went away meanwhile.
    Called by `manage.py runbot` (not by in-process bots); returns a function that puts the settings back."""
    db = settings.DATABASES["default"]
    before = {name: db[name] for name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS") if name in db}
    if not db["ENGINE"].endswith("sqlite3"):
        db["CONN_MAX_AGE"] = None
        db["CONN_HEALTH_CHECKS"] = True

    def restore() -> None:
        for name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
            db.pop(name, None)
        db.update(before)

    return restore


def handle_in_child(inc):
    from telegram_app.bot.router import handle  # needs the models: only once child_init has set Django up

    try:
        return handle(inc)
    finally:
        connection.close_if_unusable_or_obsolete()


def pool_create(processes: int) -> ProcessPoolExecutor:
    overrides = {name: getattr(settings, name) for name in SHARED}
    overrides["_DB_NAME"] = settings.DATABASES["default"]["NAME"]
    overrides["_PERSISTENT_DB"] = settings.DATABASES["default"].get("CONN_MAX_AGE") is None
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=child_init,
                               initargs=(overrides,))
