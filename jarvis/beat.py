"""Exactly one active beat: django-celery-beat's DatabaseScheduler (the one the admin edits), ticking only while it
holds the desk's beat lock (`jarvis.locks.Lease` on BEAT_LOCK_KEY, BEAT_LOCK_SECONDS long, renewed every third of
that).

Any number of `celery -A jarvis beat` processes may run; the one holding the lock sends the periodic tasks, the others
wait as standbys and try for the lock every third of its lifetime. When the holder dies, its lock lapses after at most
BEAT_LOCK_SECONDS and a standby takes over: it reads the schedule from the database only then, so it starts from
the last runs the previous holder wrote (written after every send). A holder that stops cleanly releases the lock at
once. A holder that finds another holder of its lock (it stalled past the lock's life, and a standby took over)
stops sending and exits; its supervisor starts it again, as a standby. While Redis cannot be asked, nobody sends.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from jarvis.locks import Lease

logger = logging.getLogger(__name__)

BEAT_LOCK_KEY = "jarvis:beat:scheduler"


class LeasedScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        seconds = float(settings.BEAT_LOCK_SECONDS)
        self.lease = Lease(BEAT_LOCK_KEY, seconds=seconds, renew_every=seconds / 3)
        self.active = False
        self.schedule_read = False
        self.standby_said = False
        # Each send's last run is in the database at once, so a standby taking over never repeats one.
        kwargs.setdefault("sync_every_tasks", 1)
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        """Read (and install) the schedule only once the lock is held: a standby reads it when it takes over."""
        if self._hold():
            self._read_schedule()

    def _read_schedule(self) -> None:
        if not self.schedule_read:
            self.schedule_read = True
            super().setup_schedule()

    def _hold(self) -> bool:
        """True while this beat holds the lock (taking it if free). On a Redis error: False, nothing changes."""
        try:
            held = self.lease.renew()
        except redis.RedisError as exc:
            logger.warning("beat: cannot reach Redis for the scheduler lock (%s): not sending", type(exc).__name__)
            return False
        if held and not self.active:
            self.active = True
            logger.warning("beat: active scheduler now (holds %s as %s)", BEAT_LOCK_KEY, self.lease.token)
        elif not held and self.active:
            logger.error("beat: another beat holds %s now (%s): this one stops", BEAT_LOCK_KEY, self._holder())
            raise SystemExit(1)
        elif not held and not self.standby_said:
            self.standby_said = True
            logger.warning("beat: standby; %s holds %s", self._holder(), BEAT_LOCK_KEY)
        return held

    def _holder(self) -> str:
        try:
            return self.lease.holder() or "nobody"
        except redis.RedisError:
            return "unknown"

    def tick(self, *args, **kwargs):
        if not self._hold():
            return self.lease.renew_every
        self._read_schedule()
        return min(super().tick(*args, **kwargs), self.lease.renew_every)

    def close(self):
        super().close()
        if self.active:
            self.lease.release()
            self.active = False
