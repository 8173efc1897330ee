from django.core.management.base import BaseCommand

from backups.selectors import backup_list


class Command(BaseCommand):
    help = "List the newest backups with their verification state."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=30)

    def handle(self, *args, limit, **options):
        self.stdout.write(f"{'id':>6}  {'kind':<7} {'status':<9} {'started (UTC)':<19} {'bytes':>12}  verified")
        for record in backup_list(limit=limit):
            if record.verify_error:
                verified = "FAILED: " + record.verify_error[:60]
            else:
                verified = f"{record.verified_at:%Y-%m-%d %H:%M}" if record.verified_at else "no"
            self.stdout.write(f"{record.pk:>6}  {record.kind:<7} {record.status:<9} {record.started_at:%Y-%m-%d %H:%M:%S} "
                              f"{record.size_bytes or 0:>12}  {verified}" + (f"  error: {record.error}" if record.error else ""))
