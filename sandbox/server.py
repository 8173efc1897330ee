"""The sandbox assembled: simulator, chain, pools, ledger, faults, the four HTTP faces on three ports and the RPC
WebSocket.

The JSON-RPC server answers on its port, with the control API under `/sandbox/` on the same port; the RPC WebSocket
(sandbox.ws) on the next port, as a Solana node serves it (an RPC port of 0 gives it any free port); bags.fm and Jupiter
stand-ins get one port each. The ticker lands due transactions and writes each pool's state account (sandbox.poolstate)
as the simulator moves prices and swaps land. `Sandbox(...).start()` serves from background threads (tests, `manage.py sandbox`).
"""

from __future__ import annotations

import threading
from decimal import Decimal

from sandbox.bags import BagsApp
from sandbox.launches import Launches
from sandbox.chain import Chain
from sandbox.control import PREFIX as CONTROL_PREFIX
from sandbox.control import ControlApp
from sandbox.faults import Faults
from sandbox.httpserver import HTTPService, Request, Response
from sandbox.jupiter import JupiterApp
from sandbox.ledger import Ledger
from sandbox.pools import Pools
from sandbox.poolstate import pool_states_sync
from sandbox.rpc import RpcServer
from sandbox.simulator import Market
from sandbox.ws import WsServer

DEFAULT_BAGS_KEY = "sandbox-bags-key"
DEFAULT_JUPITER_KEY = "sandbox-jupiter-key"


class Sandbox:
    def __init__(
        self,
        *,
        seed: int = 7,
        slot_seconds: float = 0.4,
        market_step_seconds: float = 1.0,
        walk: bool = True,
        seed_tokens: bool = True,
        fee_bps: int = 30,
        sol_usd: Decimal = Decimal("150"),
        bags_api_key: str = DEFAULT_BAGS_KEY,
        jupiter_api_key: str = DEFAULT_JUPITER_KEY,
        bags_rate_limit: int | None = 1000,
        bags_rate_window: float = 3600.0,
        jupiter_rate_limit: int | None = None,
        jupiter_rate_window: float = 60.0,
    ):
        self.bags_api_key = bags_api_key
        self.jupiter_api_key = jupiter_api_key
        self.faults = Faults(seed=seed)
        self.ledger = Ledger()
        self.market = Market(seed=seed, step_seconds=market_step_seconds, sol_usd=sol_usd, running=walk)
        if seed_tokens:
            self.market.seed_default_tokens()
        self.chain = Chain(ledger=self.ledger, faults=self.faults, slot_seconds=slot_seconds)
        self.pools = Pools(market=self.market, chain=self.chain, fee_bps=fee_bps)
        self.pools.ensure()
        self.launches = Launches(pools=self.pools, ledger=self.ledger)
        self.rpc = RpcServer(chain=self.chain, faults=self.faults)
        self.ws = WsServer(chain=self.chain)
        self._pool_states: dict[str, bytes] = {}
        self._pool_states_mark: tuple[int, int] | None = None
        self._sync_pool_states()
        self.control = ControlApp(self)
        # Plan limits: bags.fm 1,000 requests an hour per key by default; Jupiter none unless asked (its free plan is
        # 60 in a 60 s sliding window, shared by Swap and Price).
        self.bags = BagsApp(pools=self.pools, faults=self.faults, api_key=bags_api_key, rate_limit=bags_rate_limit,
                            rate_window=bags_rate_window, launches=self.launches)
        self.jupiter = JupiterApp(pools=self.pools, faults=self.faults, api_key=jupiter_api_key,
                                  rate_limit=jupiter_rate_limit, rate_window=jupiter_rate_window)
        self._services: dict[str, HTTPService] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _rpc_and_control(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX + "/") or request.path == CONTROL_PREFIX:
            return self.control(request)
        return self.rpc(request)

    def start(self, *, host: str = "127.0.0.1", rpc_port: int = 0, bags_port: int = 0, jupiter_port: int = 0) -> Sandbox:
        self._services = {
            "rpc": HTTPService(self._rpc_and_control, host=host, port=rpc_port, name="rpc").start(),
            "bags": HTTPService(self.bags, host=host, port=bags_port, name="bags").start(),
            "jupiter": HTTPService(self.jupiter, host=host, port=jupiter_port, name="jupiter").start(),
        }
        self.ws.start(host=host, port=rpc_port + 1 if rpc_port else 0)
        self._ticker = threading.Thread(target=self._tick, name="sandbox-ticker", daemon=True)
        self._ticker.start()
        return self

    def _tick(self) -> None:
        """Lands transactions whose confirmation delay is over, even when nobody asks about them, and keeps the pool
        state accounts in step with the simulator and the pools' balances."""
        while not self._stop.wait(0.05):
            self.chain.process_pending()
            self.launches.advance()
            self._sync_pool_states()

    def _sync_pool_states(self) -> None:
        """Write the pool state accounts when a price moved or a transaction executed since the last time."""
        self.market.tokens()  # the walk advances lazily: bring it up to now
        mark = (self.market.version, self.chain.executed)
        if mark != self._pool_states_mark:
            pool_states_sync(self.pools, self._pool_states)
            self._pool_states_mark = mark

    def stop(self) -> None:
        self._stop.set()
        for service in self._services.values():
            service.stop()
        self.ws.stop()

    # --- addresses ----------------------------------------------------------------------------------
    @property
    def rpc_url(self) -> str:
        return self._services["rpc"].url

    @property
    def ws_url(self) -> str:
        return self.ws.url

    @property
    def control_url(self) -> str:
        return self._services["rpc"].url + CONTROL_PREFIX

    @property
    def bags_url(self) -> str:
        return self._services["bags"].url + "/api/v1"

    @property
    def jupiter_url(self) -> str:
        return self._services["jupiter"].url

    def urls(self) -> dict[str, str]:
        if not self._services:
            return {}
        return {"rpc": self.rpc_url, "bags": self.bags_url, "jupiter": self.jupiter_url, "control": self.control_url,
                "ws": self.ws_url}


def sandbox_serve(*, stop: threading.Event, host: str, rpc_port: int, bags_port: int, jupiter_port: int,
                  on_ready=None, **options) -> None:
    """Serve a sandbox on fixed ports until `stop` is set (`manage.py sandbox`)."""
    sandbox = Sandbox(**options).start(host=host, rpc_port=rpc_port, bags_port=bags_port, jupiter_port=jupiter_port)
    try:
        if on_ready is not None:
            on_ready(sandbox)
        stop.wait()
    finally:
        sandbox.stop()

