import asyncio
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.exporter import metrics_serve
from telegram_app.bot.pool import persistent_db_connections
from telegram_app.bot.runner import serve
from telegram_app.limits import LockHeld


class Command(BaseCommand):
    help = "Run the Telegram bot: long polling (default), or --webhook to process updates the web role stored."

    def add_arguments(self, parser):
        parser.add_argument("--webhook", action="store_true", help="Process updates received by the webhook view.")
        parser.add_argument("--partitions", type=int, default=0,
                            help="Long polling over N+1 processes: this one reads getUpdates, N bot processes answer "
                                 "(each the Telegram users whose id modulo N is its number).")
        parser.add_argument("--partition", type=int, default=None, help="(started by --partitions) answer the updates of this partition only.")

    def handle(self, *args, webhook=False, partitions=0, partition=None, **options):
        if partitions < 0 or (partition is not None and not 0 <= partition < max(partitions, 1)):
            raise CommandError("--partition must be between 0 and --partitions - 1.")
        if webhook and partitions:
            raise CommandError("--partitions works with long polling only.")
        mode = "webhook" if webhook else "partition" if partition is not None else "reader" if partitions else "polling"
        if mode != "partition":
            target = "the Bot API" if settings.TELEGRAM_BOT_TOKEN else f"the local Bot API stand-in at {settings.TELEGRAM_API_URL}"
            shape = f", {partitions} answering processes" if partitions else ""
            self.stdout.write(f"runbot: {'webhook' if webhook else 'long polling'} mode against {target}{shape}")
        if settings.METRICS_PORT and mode != "partition":
            metrics_serve(port=settings.METRICS_PORT)  # this process's and its answering processes' counters
        restore = persistent_db_connections()
        children = []
        try:
            if mode == "reader":
                children = [subprocess.Popen([sys.executable, str(settings.BASE_DIR / "manage.py"), "runbot", "--partitions", str(partitions),
                                              "--partition", str(k)]) for k in range(partitions)]
            asyncio.run(serve(mode=mode, partitions=partitions, partition=partition))
        except LockHeld as exc:
            raise CommandError(
                f"Another runbot is already running for this bot (lock held by {exc.holder}). "
                "Only one may poll Telegram at a time; stop the other one first."
            ) from None
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
            restore()  # the process's settings as they were (call_command in tests)
