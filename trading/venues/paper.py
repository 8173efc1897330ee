"""The paper venue: fills at the price feed's price minus a fee and a slippage model, no network client.

This module imports no venue or chain client, so a paper order is structurally unable to reach bags.fm,
Jupiter's swap API or a Solana cluster; the only outside call on its path is the price feed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import transaction

from monitoring import metrics
from trading.models import Mode, Order, OrderSide, OrderStatus
from trading.models.choices import LAMPORTS_PER_SOL
from trading.prices import price_fresh, price_get

logger = logging.getLogger(__name__)

_BPS = Decimal(10_000)


@dataclass(frozen=True)
class PaperQuote:
    amount_in: int
    amount_out: int  # tokens for a buy, lamports for a sell, after fee and slippage
    fee_lamports: int
    fill_price: Decimal  # SOL per whole token the fill happens at
    slippage_bps: Decimal
    price: Decimal  # the feed price the quote started from

    def min_out(self, slippage_bps: int) -> int:
        return int(Decimal(self.amount_out) * (_BPS - slippage_bps) / _BPS)


def paper_slippage_bps(*, sol_traded: Decimal) -> Decimal:
    return Decimal(settings.PAPER_SLIPPAGE_BPS) + Decimal(settings.PAPER_IMPACT_BPS_PER_SOL) * sol_traded


def paper_quote(*, side: str, amount_in: int, price: Decimal, decimals: int) -> PaperQuote:
    """Pure: what the paper venue gives for `amount_in` (lamports to buy, base units to sell) at `price`."""
    scale = Decimal(10) ** decimals
    fee_bps = Decimal(settings.PAPER_FEE_BPS)
    if side == OrderSide.BUY:
        fee = int(Decimal(amount_in) * fee_bps / _BPS)
        slip = paper_slippage_bps(sol_traded=Decimal(amount_in) / LAMPORTS_PER_SOL)
        fill_price = price * (_BPS + slip) / _BPS
        tokens = (Decimal(amount_in - fee) / LAMPORTS_PER_SOL / fill_price * scale).to_integral_value(ROUND_FLOOR)
        return PaperQuote(amount_in, int(tokens), fee, fill_price, slip, price)
    gross_sol = Decimal(amount_in) / scale * price
    slip = paper_slippage_bps(sol_traded=gross_sol)
    fill_price = max(price * (_BPS - slip) / _BPS, Decimal(0))
    gross = int((Decimal(amount_in) / scale * fill_price * LAMPORTS_PER_SOL).to_integral_value(ROUND_FLOOR))
    fee = int(Decimal(gross) * fee_bps / _BPS)
    return PaperQuote(amount_in, gross - fee, fee, fill_price, slip, price)


def paper_order_execute(*, order_id: int) -> None:
    """Fill a pending paper order, once. The whole fill is one transaction, and its first statement reads the order
    with the row locks the fill needs (no read before it): a worker that dies mid-way leaves the order pending for
    the redelivered task; a duplicate delivery finds it no longer pending and stops. The price is the cached one
    when it is fresh; otherwise it is fetched with no lock held (the transaction is left first) and the fill reads
    the order again."""
    from trading.services.fills import order_locked_for_fill
    from trading.services.orders import order_fail

    point = None  # a price fetched outside the transaction, once the cached one was found stale
    while True:
        with transaction.atomic():
            try:
                order = order_locked_for_fill(order_id=order_id)
            except Order.DoesNotExist:
                logger.warning("order %s does not exist", order_id)
                return
            if order.mode != Mode.PAPER or order.venue != "paper":
                raise RuntimeError(f"order {order_id} is not a paper order; the paper venue refuses it")
            if order.status != OrderStatus.PENDING:
                return
            token = order.position.token
            if point is None:
                cached = price_get(mint=token.mint)
                point = cached if cached is not None and cached.is_fresh() else None
            if point is not None:
                _fill(order=order, token=token, point=point)
                return
        point = price_fresh(mint=token.mint)  # no row lock is held while the feed is asked
        if point is None:
            if order_fail(order_id=order_id, error=f"There is no price for {token} right now, so nothing was traded."):
                metrics.trade_execution(venue="paper", outcome="failed")
            return


def _fill(*, order: Order, token, point) -> None:
    """The fill of a locked pending paper order at `point`, or its failure past the order's slippage limit."""
    from trading.services.fills import fill_locked
    from trading.services.orders import order_fail

    quote = paper_quote(side=order.side, amount_in=order.amount_in, price=point.price, decimals=token.decimals)
    if quote.amount_out <= 0 or (order.min_amount_out is not None and quote.amount_out < order.min_amount_out):
        if order_fail(order_id=order.id, error=f"The price of {token} moved past your slippage limit, so nothing was traded."):
            transaction.on_commit(lambda: metrics.trade_execution(venue="paper", outcome="failed"))
        return
    fill_locked(
        order=order,
        in_amount=order.amount_in,
        out_amount=quote.amount_out,
        price=quote.fill_price,
        fee_lamports=quote.fee_lamports,
        attempts=1,
        position=order.position,
    )
    transaction.on_commit(lambda: metrics.trade_execution(venue="paper", outcome="confirmed"))
    logger.info("paper order %s filled at %s", order.id, quote.fill_price)
