from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telegram_app import botapi
from telegram_app.bot.runner import ALLOWED_UPDATES
from telegram_app.views import webhook_path


class Command(BaseCommand):
    help = "Register (or with --delete remove) the webhook at TELEGRAM_WEBHOOK_URL with TELEGRAM_WEBHOOK_SECRET."

    def add_arguments(self, parser):
        parser.add_argument("--delete", action="store_true")

    def handle(self, *args, delete=False, **options):
        try:
            if delete:
                botapi.call("deleteWebhook", {"drop_pending_updates": "false"})
                self.stdout.write("webhook removed; runbot can long-poll again")
                return
            base, secret = settings.TELEGRAM_WEBHOOK_URL, settings.TELEGRAM_WEBHOOK_SECRET
            if not base or not secret:
                raise CommandError("Set TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET first.")
            if len(secret) < 16 or not secret.replace("_", "").replace("-", "").isalnum():
                raise CommandError("TELEGRAM_WEBHOOK_SECRET must be at least 16 characters of A-Z, a-z, 0-9, _ or -.")
            url = base.rstrip("/") + "/" + webhook_path()
            botapi.call("setWebhook", {"url": url, "secret_token": secret,
                                       "allowed_updates": ALLOWED_UPDATES, "drop_pending_updates": "false"})
        except botapi.BotApiError as exc:
            raise CommandError(f"Telegram refused: {exc.description}") from None
        self.stdout.write(f"webhook set to {base.rstrip('/')}/telegram/<secret>/ ; run `manage.py runbot --webhook`")
