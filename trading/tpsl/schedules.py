"""Beat entries of the exit engine; trading/schedules.py includes them."""

from django.conf import settings

PERIODIC_TASKS = [
    {
        "name": "tpsl sweep",
        "task": "trading.tpsl_sweep",
        "every_seconds": settings.TPSL_INTERVAL_SECONDS,
        "description": "Refresh prices of mints with open positions, then claim and queue every triggered exit.",
    },
]
