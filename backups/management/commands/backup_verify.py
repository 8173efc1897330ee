from django.core.management.base import BaseCommand, CommandError

from backups.errors import BackupError
from backups.services import backup_verify


class Command(BaseCommand):
    help = "Restore a backup (default: the newest) into a scratch database and compare its money tables with its manifest."

    def add_arguments(self, parser):
        parser.add_argument("backup", nargs="?", default="latest", help="backup id or 'latest'")

    def handle(self, *args, backup, **options):
        if backup != "latest" and not backup.isdigit():
            raise CommandError("give a backup id (a number, see backup_list) or 'latest'")
        try:
            record = backup_verify(record_id=None if backup == "latest" else int(backup))
        except BackupError as exc:
            raise CommandError(exc.message) from None
        tables = record.manifest.get("tables", {})
        self.stdout.write(f"backup {record.pk} verified: {len(tables)} money tables, "
                          f"{sum(t['rows'] for t in tables.values())} rows match the manifest")
