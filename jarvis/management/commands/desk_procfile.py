from django.core.management.base import BaseCommand

from jarvis.procs import procfile_lines


class Command(BaseCommand):
    help = "Print the Procfile of the local desk (web, workers for every queue, beat, flower, and app extras)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--flower-port", type=int, default=5555)

    def handle(self, *args, port, flower_port, **options):
        for name, command in procfile_lines(port=port, flower_port=flower_port).items():
            self.stdout.write(f"{name}: {command}")
