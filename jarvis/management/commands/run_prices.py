"""The `prices` role: the price stream (trading.pricestream) with its heartbeat (readiness' `price_stream`)."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from monitoring.services import heartbeat_record
from trading.pricestream import PriceStream


class Command(BaseCommand):
    help = "Stream prices over the Solana RPC WebSocket (SOLANA_WS_URL) into the price cache, with price events."

    def handle(self, *args, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if not settings.SOLANA_WS_URL:
            self.stdout.write("run_prices: no SOLANA_WS_URL; prices are polled by the exit sweep")
            stop.wait()
            return
        self.stdout.write(f"run_prices: streaming from {settings.SOLANA_WS_URL}")
        stream = PriceStream(url=settings.SOLANA_WS_URL,
                             on_beat=lambda status: heartbeat_record(component="price_stream", detail=status))
        stream.run(stop)
