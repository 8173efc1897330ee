import sys

from django.core.management.base import BaseCommand

from backups.export import state_export


class Command(BaseCommand):
    help = "Write the desk's state (positions, orders, exit plans, settings; never secrets) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, output, **options):
        if output:
            with open(output, "w", encoding="utf-8") as stream:
                counts = state_export(stream=stream)
            self.stderr.write(f"wrote {sum(counts.values())} rows of {len(counts)} models to {output}")
        else:
            state_export(stream=sys.stdout)
