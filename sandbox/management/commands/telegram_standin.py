import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

# On SIGTERM/SIGINT the stand-in keeps answering this long before it stops: the desk's processes get the signal at
# the same moment (honcho), and the bot's last getUpdates at shutdown must still find the server it talks to.
LINGER_SECONDS = 3.0


class Command(BaseCommand):
    help = "Serve the local Bot API stand-in (the bot talks to it when TELEGRAM_BOT_TOKEN is empty)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None)

    def handle(self, *args, port=None, **options):
        from sandbox.telegram import BotApiStandin

        server = BotApiStandin(port=port or settings.TELEGRAM_STANDIN_PORT)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        server.start()
        self.stdout.write(f"Bot API stand-in on {server.url} (user side under /_control/)")
        while not stop.wait(0.5):  # a timed wait: the signal handler always gets its turn
            pass
        stop.clear()
        stop.wait(LINGER_SECONDS)  # a second signal stops it at once
        stopper = threading.Thread(target=server.stop, name="standin-stop", daemon=True)
        stopper.start()
        stopper.join(5)  # the process ends even if a request thread holds the server up
