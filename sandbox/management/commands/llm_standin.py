import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the local stand-in of the LLM provider's Messages API (/vibe talks to it outside live mode)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None)
        parser.add_argument("--delay", type=float, default=0.3, help="seconds before each answer's first byte")

    def handle(self, *args, port=None, delay=0.3, **options):
        from sandbox.llm import LlmStandin

        server = LlmStandin(host=settings.SANDBOX_HOST, port=port or settings.VIBE_STANDIN_PORT, delay_s=delay,
                            chunk_delay_s=0.05)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        server.start()
        self.stdout.write(f"LLM stand-in (Anthropic Messages API) on {server.url}")
        while not stop.wait(0.5):
            pass
        server.stop()
