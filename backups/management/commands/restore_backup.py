import sys
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backups.errors import BackupError
from backups.pitr import pitr_prepare, pitr_start
from backups.selectors import database_other_connections
from backups.services import backup_restore


class Command(BaseCommand):
    help = ("Replace the database with a backup (an id from backup_list, or 'latest' = the newest verified one). "
            "Takes a safety backup of the current database first. Stop web, bot, workers and beat before running it.")

    def add_arguments(self, parser):
        parser.add_argument("backup", nargs="?", help="backup id or 'latest' (not with --to-time)")
        parser.add_argument("--to-time", help="point-in-time recovery: an ISO time with its zone; rebuilds the cluster "
                            "from a base backup and the WAL archive into --data-dir")
        parser.add_argument("--data-dir", help="with --to-time: an empty directory for the restored cluster")
        parser.add_argument("--start", action="store_true", help="with --to-time: start Postgres there (run as its "
                            "owner) and wait until it reached the time and promoted")
        parser.add_argument("--force", action="store_true", help="restore even an unverified or corrupt backup")
        parser.add_argument("--yes", "--noinput", action="store_true", dest="yes", help="do not ask for confirmation")

    def handle(self, *args, backup, force, yes, to_time, data_dir, start, **options):
        if to_time:
            return self._to_time(backup=backup, to_time=to_time, data_dir=data_dir, start=start)
        if backup is None:
            raise CommandError("give a backup id (see backup_list), 'latest', or --to-time")
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

    def _to_time(self, *, backup, to_time, data_dir, start):
        if backup is not None or not data_dir:
            raise CommandError("--to-time takes no backup id and needs --data-dir (an empty directory)")
        try:
            moment = datetime.fromisoformat(to_time.replace("Z", "+00:00"))
        except ValueError:
            raise CommandError(f"{to_time!r} is not an ISO time (e.g. 2026-12-07T14:05:00Z)") from None
        try:
            plan = pitr_prepare(to_time=moment, data_dir=Path(data_dir).resolve())
            self.stdout.write(f"base backup {plan.base['label']} unpacked into {plan.data_dir}; recovery will replay "
                              f"the archive up to {moment.isoformat()} and promote")
            if start:
                seconds = pitr_start(plan=plan)
                self.stdout.write(f"recovered to {moment.isoformat()} and promoted in {seconds:.1f}s")
            else:
                self.stdout.write(f"start it with: pg_ctl --pgdata {plan.data_dir} start")
        except BackupError as exc:
            raise CommandError(exc.message) from None
