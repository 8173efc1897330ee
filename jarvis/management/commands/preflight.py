"""Check that the services the desk needs answer, in one sentence each, and never hang."""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from jarvis.redis import redis_client


class Command(BaseCommand):
    help = ("Exit non-zero with one sentence if Redis or the database cannot be reached; warn when Redis may evict "
            "keys (the broker needs maxmemory-policy noeviction).")

    def handle(self, *args, **options):
        try:
            client = redis_client(retry=False)
            client.ping()
            policy = client.info("memory").get("maxmemory_policy", "")
        except redis.RedisError:
            safe = settings.REDIS_URL.split("@")[-1]
            raise CommandError(
                f"Redis is not reachable at {safe}: start one with "
                "`redis-server --daemonize yes --save '' --appendonly no --maxmemory-policy noeviction` or point REDIS_URL at a running server."
            ) from None
        if policy != "noeviction":
            self.stderr.write(
                f"preflight: warning: Redis evicts keys (maxmemory-policy {policy}); the Celery broker can lose queued "
                "tasks. Run it with `--maxmemory-policy noeviction` (docs/configuration.md)."
            )
        try:
            connection.ensure_connection()
        except Exception as exc:  # any driver error: the point is one sentence
            raise CommandError(f"The database is not reachable ({type(exc).__name__}): check DATABASE_URL.") from None
        self.stdout.write("preflight: Redis and the database answer.")
