from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backups.errors import BackupError
from backups.pitr import wal_fetch


class Command(BaseCommand):
    help = ("Postgres' restore_command: write one archived WAL file where Postgres asks. Exits 1 when the archive "
            "has no such file (the normal end of recovery). restore_command = '.../manage.py restore_wal %f %p'")

    def add_arguments(self, parser):
        parser.add_argument("name", help="%%f: the file wanted")
        parser.add_argument("path", help="%%p: where to write it, relative to the data directory")

    def handle(self, *args, name, path, **options):
        try:
            found = wal_fetch(name=name, dest=Path(path))
        except BackupError as exc:
            raise CommandError(exc.message) from None
        if not found:
            raise CommandError(f"{name} is not in the archive")
