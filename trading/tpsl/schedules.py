"""Beat entries of the exit engine; trading/schedules.py includes them."""

from django.conf import settings

PERIODIC_TASKS = [
    {
        "name": "tpsl sweep",
        "task": "trading.tpsl_sweep",
        "every_seconds": settings.TPSL_INTERVAL_SECONDS,
        # A tick no worker took within one interval is dropped (the next one replaces it): sweeps never pile up
        # behind a busy or hung worker.
        "expire_seconds": settings.TPSL_INTERVAL_SECONDS,
        "description": "Refresh prices of mints with open positions, then claim and queue every triggered exit.",
    },
]
