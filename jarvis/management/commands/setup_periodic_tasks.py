"""Register every periodic task by name (idempotent). Apps declare theirs in `<app>/schedules.py`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from jarvis.periodic import declared_schedules


class Command(BaseCommand):
    help = "Create or update every periodic task the apps declare. Safe to run on every deploy."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-schedules",
            action="store_true",
            help="Also put back the declared intervals/crontabs on tasks an operator has edited.",
        )

    @transaction.atomic
    def handle(self, *args, reset_schedules=False, **options):
        created = updated = 0
        for spec in declared_schedules():
            schedule_fields = self._schedule(spec)
            defaults = {
                "task": spec["task"],
                "kwargs": json.dumps(spec.get("kwargs", {})),
                "args": json.dumps(spec.get("args", [])),
                "description": spec.get("description", ""),
                "expires": None,
                "expire_seconds": spec.get("expire_seconds"),  # a message not taken by then is dropped
            }
            if spec.get("queue"):
                defaults["queue"] = spec["queue"]
            task = PeriodicTask.objects.filter(name=spec["name"]).first()
            if task is None:
                PeriodicTask.objects.create(name=spec["name"], enabled=spec.get("enabled", True), **defaults, **schedule_fields)
                created += 1
                continue
            for field, value in defaults.items():
                setattr(task, field, value)
            if reset_schedules:
                task.interval = task.crontab = None
                for field, value in schedule_fields.items():
                    setattr(task, field, value)
            task.save()
            updated += 1
        self.stdout.write(f"periodic tasks: {created} created, {updated} updated")

    def _schedule(self, spec: dict) -> dict:
        if "every_seconds" in spec:
            interval, _ = IntervalSchedule.objects.get_or_create(every=spec["every_seconds"], period=IntervalSchedule.SECONDS)
            return {"interval": interval}
        cron = spec["crontab"]
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=cron.get("minute", "*"),
            hour=cron.get("hour", "*"),
            day_of_week=cron.get("day_of_week", "*"),
            day_of_month=cron.get("day_of_month", "*"),
            month_of_year=cron.get("month_of_year", "*"),
            timezone="UTC",
        )
        return {"crontab": crontab}
