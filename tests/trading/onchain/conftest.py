"""Fixtures of the on-chain execution tests: sandbox-mode traders, wallets funded on the sandbox chain, orders."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from solders.keypair import Keypair

SANDBOX_FUNDING = 20 * 10**9


@dataclass
class Desk:
    """A sandbox-mode trader with a funded wallet, and a way to write buy/sell orders as the core services do."""

    sandbox: object
    trader: object
    wallet: object
    keypair: Keypair

    @property
    def owner(self) -> str:
        return str(self.keypair.pubkey())

    def token(self, index: int = 0):
        from trading.models import Token

        sim = self.sandbox.market.tokens()[index]
        return Token.objects.get_or_create(
            mint=sim.mint, defaults={"symbol": sim.symbol, "decimals": sim.decimals, "token_program": sim.token_program}
        )[0]

    def buy(self, *, lamports: int = 250_000_000, token_index: int = 0, slippage_bps: int = 300):
        """Position (opening) + exit plan + pending buy order, committed; returns the order (not yet queued)."""
        from django.db import transaction

        from trading.models import Order, OrderSide, Position, PositionStatus
        from trading.services.exits import exit_plan_create
        from trading.tpsl.plans import preset

        with transaction.atomic():
            position = Position.objects.create(
                trader=self.trader, wallet=self.wallet, token=self.token(token_index), mode="sandbox",
                status=PositionStatus.OPENING, cost_lamports=lamports,
            )
            exit_plan_create(position=position, spec=preset())
            return Order.objects.create(
                position=position, trader=self.trader, side=OrderSide.BUY, mode="sandbox", amount_in=lamports,
                slippage_bps=slippage_bps,
            )

    def sell(self, *, position, amount: int, reason: str = "sl", slippage_bps: int = 500):
        from django.db import transaction

        from trading.models import Order, OrderSide, Position, PositionStatus

        with transaction.atomic():
            Position.objects.filter(id=position.id).update(status=PositionStatus.CLOSING)
            return Order.objects.create(
                position=position, trader=self.trader, side=OrderSide.SELL, reason=reason, mode="sandbox",
                amount_in=amount, slippage_bps=slippage_bps,
            )


@pytest.fixture
def desk(sandbox, sandbox_settings, transactional_db, clean_redis):
    from trading.models import Trader, TradingSettings
    from trading.wallets import wallet_import

    sandbox_settings.TRADING_MODE = "sandbox"
    sandbox_settings.VENUE_TIMEOUT_SECONDS = 0.5
    sandbox_settings.EXECUTION_RESEND_SECONDS = 0.3
    keypair = Keypair()
    sandbox.chain.airdrop(keypair.pubkey(), SANDBOX_FUNDING)
    trader = Trader.objects.create(name="onchain")
    TradingSettings.objects.create(trader=trader, mode="sandbox")
    wallet = wallet_import(trader=trader, secret=str(keypair))
    yield Desk(sandbox=sandbox, trader=trader, wallet=wallet, keypair=keypair)
    _let_the_worker_finish(clean_redis)


def _let_the_worker_finish(redis_client, timeout: float = 30.0) -> None:
    """Before the tables are emptied: drop this test's order messages nobody took yet, and wait for the session
    worker's tasks in hand (reconciliation may have re-queued an order the test no longer watches). A task still in a
    transaction while the tables are truncated deadlocks the truncation."""
    import time

    from celery.worker import state

    redis_client.delete("trades")
    deadline = time.monotonic() + timeout
    while (state.active_requests or state.reserved_requests) and time.monotonic() < deadline:
        time.sleep(0.05)
