"""Create the operator groups (idempotent): `viewer` sees everything and changes nothing; `operator` runs the desk.

Superusers are Django's own flag (`createsuperuser`). Run on deploy after migrate; `make run` does.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction

PROJECT_APPS = ("trading", "telegram_app", "monitoring", "backups", "assistant", "django_celery_beat", "axes")

# What an operator may add or change (never delete): the knobs that steer the desk. Money history
# (positions, orders, ledgers) stays read-only for everyone but superusers; operators act on it
# through admin actions that call services.
OPERATOR_EDITABLE = {
    ("trading", "killswitch"),
    ("trading", "risklimits"),
    ("trading", "trader"),
    ("trading", "tradingsettings"),
    ("trading", "token"),
    ("monitoring", "alertrule"),
    ("monitoring", "providerbudget"),
    ("backups", "backuprecord"),
    ("django_celery_beat", "periodictask"),
    ("django_celery_beat", "intervalschedule"),
    ("django_celery_beat", "crontabschedule"),
    ("axes", "accessattempt"),
}

# Custom permissions named `run_*`, `close_*`, `retry_*`, `pause_*` (admin actions) go to operators.
OPERATOR_ACTION_PREFIXES = ("run_", "close_", "retry_", "pause_", "toggle_")


def _view_permissions():
    return Permission.objects.filter(content_type__app_label__in=PROJECT_APPS, codename__startswith="view_")


class Command(BaseCommand):
    help = "Create or refresh the `viewer` and `operator` groups with their permissions."

    @transaction.atomic
    def handle(self, *args, **options):
        viewer, _ = Group.objects.get_or_create(name="viewer")
        viewer.permissions.set(_view_permissions())

        operator, _ = Group.objects.get_or_create(name="operator")
        granted = list(_view_permissions())
        for permission in Permission.objects.filter(content_type__app_label__in=PROJECT_APPS).select_related("content_type"):
            key = (permission.content_type.app_label, permission.content_type.model)
            action = permission.codename.split("_", 1)[0]
            if key in OPERATOR_EDITABLE and action in {"add", "change"}:
                granted.append(permission)
            elif permission.codename.startswith(OPERATOR_ACTION_PREFIXES):
                granted.append(permission)
        operator.permissions.set(granted)
        self.stdout.write(f"groups: viewer ({viewer.permissions.count()} permissions), operator ({len(set(granted))})")
