from django.core.management.base import BaseCommand, CommandError

from backups.errors import BackupError
from backups.services import backup_import


class Command(BaseCommand):
    help = ("Add the backups found in storage to the catalogue (after the database was lost). They come in unverified: "
            "run backup_verify before restore_backup.")

    def handle(self, *args, **options):
        try:
            added = backup_import()
        except BackupError as exc:
            raise CommandError(exc.message) from None
        for record in added:
            self.stdout.write(f"backup {record.pk}: {record.location} ({record.kind}, {record.started_at:%Y-%m-%d %H:%M} UTC)")
        self.stdout.write(f"{len(added)} backup(s) added to the catalogue")
