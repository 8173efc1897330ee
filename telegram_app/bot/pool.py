"""Optional process pool for the router (TELEGRAM_BOT_PROCESSES > 0): one `getUpdates` consumer, the handler
work spread over processes so a busy bot uses every core. Imports no model at module level: spawned children
set Django up in `child_init` before the first update arrives."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

# Settings a child must share with its parent even when the parent's were changed at run time (tests).
SHARED = ("SECRET_KEY", "REDIS_URL", "TELEGRAM_ADMIN_IDS", "TELEGRAM_COMMANDS_PER_MINUTE", "TELEGRAM_COMMAND_BURST",
          "TELEGRAM_API_URL", "CELERY_BROKER_URL")


def child_init(overrides: dict) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jarvis.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = overrides.pop("_DB_NAME", settings.DATABASES["default"]["NAME"])
    persistent = overrides.pop("_PERSISTENT_DB", False)
    for name, value in overrides.items():
        setattr(settings, name, value)
    if persistent:
        from telegram_app.bot.app import persistent_db_connections

        persistent_db_connections()


def handle_in_child(inc):
    from django.db import connection

    from telegram_app.bot.router import handle

    try:
        return handle(inc)
    finally:
        connection.close_if_unusable_or_obsolete()


def pool_create(processes: int) -> ProcessPoolExecutor:
    from django.conf import settings

    overrides = {name: getattr(settings, name) for name in SHARED}
    overrides["_DB_NAME"] = settings.DATABASES["default"]["NAME"]
    overrides["_PERSISTENT_DB"] = settings.DATABASES["default"].get("CONN_MAX_AGE") is None
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=child_init,
                               initargs=(overrides,))
