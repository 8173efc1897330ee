import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telegram_app.limits import LockHeld


class Command(BaseCommand):
    help = "Run the Telegram bot: long polling (default), or --webhook to process updates the web role stored."

    def add_arguments(self, parser):
        parser.add_argument("--webhook", action="store_true", help="Process updates received by the webhook view.")

    def handle(self, *args, webhook=False, **options):
        from telegram_app.bot.app import persistent_db_connections
        from telegram_app.bot.runner import serve

        target = "the Bot API" if settings.TELEGRAM_BOT_TOKEN else f"the local Bot API stand-in at {settings.TELEGRAM_API_URL}"
        self.stdout.write(f"runbot: {'webhook' if webhook else 'long polling'} mode against {target}")
        restore = persistent_db_connections()
        try:
            asyncio.run(serve(mode="webhook" if webhook else "polling"))
        except LockHeld as exc:
            raise CommandError(
                f"Another runbot is already running for this bot (lock held by {exc.holder}). "
                "Only one may poll Telegram at a time; stop the other one first."
            ) from None
        finally:
            restore()  # the process's settings as they were (call_command in tests)
