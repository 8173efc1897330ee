"""A container probe: exit 0 when a component's heartbeat is fresh, 1 with one line saying why when it is not.

    manage.py heartbeat_check bot                # the bot's heartbeat, stale after MONITORING_BOT_STALE_SECONDS
    manage.py heartbeat_check beat --max-age 120
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.checks import CheckFailed, check_heartbeat


class Command(BaseCommand):
    help = "Exit 1 when a component's heartbeat in Redis is missing or older than --max-age seconds (a probe)."

    def add_arguments(self, parser):
        parser.add_argument("component", help="bot, beat, price_feed, ...")
        parser.add_argument("--max-age", type=float, default=None,
                            help="seconds (default MONITORING_BOT_STALE_SECONDS)")

    def handle(self, *args, component, max_age=None, **options):
        try:
            detail = check_heartbeat(component, max_age or settings.MONITORING_BOT_STALE_SECONDS)
        except CheckFailed as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:  # Redis unreachable: the probe fails with the reason, never a traceback
            raise CommandError(f"{component} heartbeat could not be read: {exc.__class__.__name__}") from None
        self.stdout.write(f"{component}: {detail}")
