from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print where the local desk's screens are."

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
                    "Ctrl-C stops everything.",
                ]
            )
        )
