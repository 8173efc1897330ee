"""`manage.py sandbox`: the local chain, the bags.fm and Jupiter stand-ins and the market simulator on the SANDBOX_* ports."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.server import DEFAULT_BAGS_KEY, DEFAULT_JUPITER_KEY, sandbox_serve


class Command(BaseCommand):
    help = "Serve the sandbox (Solana JSON-RPC over LiteSVM, bags.fm and Jupiter stand-ins, control API) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.SANDBOX_HOST)
        parser.add_argument("--rpc-port", type=int, default=settings.SANDBOX_RPC_PORT)
        parser.add_argument("--bags-port", type=int, default=settings.SANDBOX_BAGS_PORT)
        parser.add_argument("--jupiter-port", type=int, default=settings.SANDBOX_JUPITER_PORT)
        parser.add_argument("--seed", type=int, default=settings.SANDBOX_SEED)
        parser.add_argument("--slot-seconds", type=float, default=0.4, help="wall time per block (default 0.4)")
        parser.add_argument("--step-seconds", type=float, default=1.0, help="wall time per market step (default 1)")
        parser.add_argument("--no-walk", action="store_true", help="prices move only through the control API")

    def handle(self, *args, **o):
        if settings.TRADING_MODE == "live":
            raise CommandError("TRADING_MODE is live: the sandbox serves paper and sandbox modes only.")
        if o["slot_seconds"] <= 0 or o["step_seconds"] <= 0:
            raise CommandError("--slot-seconds and --step-seconds must be positive.")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        try:
            sandbox_serve(
                stop=stop, host=o["host"], rpc_port=o["rpc_port"], bags_port=o["bags_port"],
                jupiter_port=o["jupiter_port"], on_ready=self._announce, seed=o["seed"], slot_seconds=o["slot_seconds"],
                market_step_seconds=o["step_seconds"], walk=not o["no_walk"],
                bags_api_key=settings.BAGS_API_KEY or DEFAULT_BAGS_KEY,
                jupiter_api_key=settings.JUPITER_API_KEY or DEFAULT_JUPITER_KEY,
            )
        except OSError as exc:
            raise CommandError(f"cannot listen: {exc}. Is another sandbox running on these ports?") from None

    def _announce(self, sandbox) -> None:
        self.stdout.write("Sandbox ready:")
        for name, url in sandbox.urls().items():
            self.stdout.write(f"  {name:8} {url}")
        for token in sandbox.market.tokens():
            self.stdout.write(f"  token    {token.symbol:5} {token.mint} decimals={token.decimals} price={token.price} SOL")
        self.stdout.flush()
