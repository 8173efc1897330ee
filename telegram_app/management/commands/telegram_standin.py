from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the local Bot API stand-in (the bot talks to it when TELEGRAM_BOT_TOKEN is empty)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None)

    def handle(self, *args, port=None, **options):
        from telegram_app.standin import BotApiStandin

        server = BotApiStandin(port=port or settings.TELEGRAM_STANDIN_PORT)
        self.stdout.write(f"Bot API stand-in on {server.url} (user side under /_control/)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
