import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backups.errors import BackupError
from backups.selectors import database_other_connections
from backups.services import backup_restore


class Command(BaseCommand):
    help = ("Replace the database with a backup (an id from backup_list, or 'latest' = the newest verified one). "
            "Takes a safety backup of the current database first. Stop web, bot, workers and beat before running it.")

    def add_arguments(self, parser):
        parser.add_argument("backup", help="backup id or 'latest'")
        parser.add_argument("--force", action="store_true", help="restore even an unverified or corrupt backup")
        parser.add_argument("--yes", "--noinput", action="store_true", dest="yes", help="do not ask for confirmation")

    def handle(self, *args, backup, force, yes, **options):
        if backup != "latest" and not backup.isdigit():
            raise CommandError("give a backup id (a number, see backup_list) or 'latest'")
        database = settings.DATABASES["default"]["NAME"]
        others = database_other_connections()
        if others:
            self.stderr.write(f"warning: {others} other session(s) are connected to {database}; stop web, bot, workers and "
                              "beat first, or the restore waits for their locks and they see the database change")
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("refusing to restore without confirmation: run it in a terminal or pass --yes")
            self.stdout.write(f"This replaces every table of the database {database} with backup {backup}. "
                              "A safety backup of the current database is taken first.")
            if input("Type 'restore' to continue: ").strip() != "restore":
                raise CommandError("not confirmed; nothing was changed")
        try:
            result = backup_restore(record_id=None if backup == "latest" else int(backup), force=force)
        except BackupError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"restored backup {result.record.pk} (taken {result.record.started_at:%Y-%m-%d %H:%M:%S} UTC) "
                          f"in {result.seconds:.1f}s; safety backup of the previous state: {result.safety.pk}")
        if result.problems:
            raise CommandError("the restored money tables differ from the backup's manifest: " + "; ".join(result.problems))
        self.stdout.write("money tables match the backup's manifest. Run `manage.py migrate` if the code is newer.")
