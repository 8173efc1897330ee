from django.core.management.base import BaseCommand, CommandError

from backups.errors import BackupError
from backups.models import BackupRecord
from backups.services import backup_create, backup_verify


class Command(BaseCommand):
    help = "Take a backup of the database now (and optionally verify it in a scratch database)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", default=BackupRecord.Kind.MANUAL, choices=BackupRecord.Kind.values)
        parser.add_argument("--verify", action="store_true", help="restore it into a scratch database and check it")

    def handle(self, *args, kind, verify, **options):
        try:
            record = backup_create(kind=kind)
            if verify:
                record = backup_verify(record_id=record.pk)
        except BackupError as exc:
            raise CommandError(exc.message) from None
        seconds = (record.finished_at - record.started_at).total_seconds()
        self.stdout.write(f"backup {record.pk}: {record.location} in {record.storage}, {record.size_bytes} bytes, "
                          f"sha256 {record.sha256}, {seconds:.1f}s" + (", verified" if record.is_verified else ""))
