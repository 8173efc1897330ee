"""`make run`'s banner: the mode the desk runs, where its screens are, and how to scrape its metrics."""

import os
import shlex

from django.conf import settings
from django.core.management.base import BaseCommand
from dotenv import dotenv_values


def metrics_command(base: str) -> str:
    """A command that scrapes /metrics with the desk's METRICS_TOKEN, read from where it is set (never printed)."""
    if not settings.METRICS_TOKEN:
        return f"set METRICS_TOKEN to scrape {base}/metrics (without it every scrape is refused)"
    source = settings.DOTENV_FILE
    if source is not None and source.exists() and dotenv_values(source).get("METRICS_TOKEN") == settings.METRICS_TOKEN:
        path = os.path.relpath(source) if source.resolve().is_relative_to(os.getcwd()) else str(source)
        token = f"$(sed -n 's/^METRICS_TOKEN=//p' {shlex.quote(path)})"
    else:
        token = "$METRICS_TOKEN"
    return f'curl -H "Authorization: Bearer {token}" {base}/metrics'


class Command(BaseCommand):
    help = "Print the mode the local desk runs, where its screens are and how to scrape its metrics."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, port, **options):
        base = f"http://127.0.0.1:{port}"
        self.stdout.write(
            "\n".join(
                [
                    f"Jarvis desk ({settings.TRADING_MODE} mode) starting:",
                    f"  admin        {base}/admin/",
                    f"  health       {base}/api/v1/health/",
                    f"  API docs     {base}/api/docs/",
                    f"  Flower       {settings.FLOWER_URL}/",
                    f"  metrics      {metrics_command(base)}",
                    "Ctrl-C stops everything.",
                ]
            )
        )
