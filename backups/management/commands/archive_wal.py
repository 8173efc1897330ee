from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backups.errors import BackupError
from backups.pitr import wal_archive


class Command(BaseCommand):
    help = ("Postgres' archive_command: store one WAL file, compressed and encrypted, in the backup storage. "
            "archive_command = '.../manage.py archive_wal %p %f'")

    def add_arguments(self, parser):
        parser.add_argument("path", help="%%p: the file's path, relative to the data directory")
        parser.add_argument("name", help="%%f: the file's name")

    def handle(self, *args, path, name, **options):
        try:
            wal_archive(source=Path(path), name=name)
        except BackupError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"could not read {path}: {exc.strerror or exc}") from None
