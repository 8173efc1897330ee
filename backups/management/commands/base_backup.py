from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backups import pg
from backups.errors import BackupError
from backups.pitr import base_backup_create


class Command(BaseCommand):
    help = ("Take a base backup of the database's Postgres cluster (pg_basebackup) into the backup storage, for "
            "point-in-time recovery. Needs WAL archiving on (archive_wal) and a role with REPLICATION.")

    def handle(self, *args, **options):
        try:
            info = base_backup_create(target=pg.PgTarget.from_django(settings.DATABASES["default"]))
        except BackupError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"base backup {info['label']} stored as {info['file']} (WAL from {info['start_segment']})")
