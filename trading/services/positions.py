"""Entries and exits: every check runs before anything is written; the writes of one request share a
transaction, and execution is queued only once it commits."""

from __future__ import annotations

from decimal import ROUND_FLOOR

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from trading.errors import Conflict, InsufficientBalance, InvalidInput, NotFound
from trading.models import (
    ExitLeg,
    Mode,
    Order,
    OrderReason,
    OrderSide,
    OrderStatus,
    Position,
    PositionStatus,
    Token,
    Trader,
)
from trading.prices import price_fresh
from trading.services.accounts import modes_allowed, trading_settings_get
from trading.services.amounts import amount_validate, mint_validate, percent_validate, slippage_validate
from trading.services.book import trader_book
from trading.services.exits import exit_plan_build, exit_spec_resolve
from trading.services.orders import order_build, order_enqueue
from trading.services.quotes import balance_available, token_from
from trading.services.risk import risk_check_entry
from trading.venues.paper import paper_quote


def _wallet_for(trader: Trader, mode: str, book: dict):
    if mode == Mode.PAPER:
        return None
    wallet = book["wallet"]
    if wallet is None:
        raise InvalidInput("You need a wallet before trading on-chain; create or import one first.", "no_wallet")
    return wallet


def position_open(
    *, trader: Trader, mint: str, amount_lamports: int, exit_plan=None, slippage_bps: int | None = None,
    reason: str = OrderReason.MANUAL,
) -> Position:
    """Buy `amount_lamports` of SOL worth of `mint`. Writes Position + ExitPlan + Order in one transaction and
    queues `trading.execute_order` on commit. Refused requests raise a TradingError and write nothing. `reason`: what
    placed the buy (the trader; a limit order or a DCA plan firing)."""
    mint = mint_validate(mint)
    amount = amount_validate(amount_lamports)
    if slippage_bps is not None:
        slippage_validate(slippage_bps)
    point = price_fresh(mint=mint)
    with transaction.atomic():
        # One statement: the trader's figures, settings, first wallet and the token, with the lock that makes
        # entries of one trader one at a time.
        ledger, book = trader_book(trader=trader, lock=True, mint=mint)
        token = token_from(mint=mint, token=book["token"], point=point)
        prefs = book["settings"] or trading_settings_get(trader=trader)
        slippage = slippage_validate(prefs.buy_slippage_bps if slippage_bps is None else slippage_bps)
        spec = exit_spec_resolve(spec=exit_plan, default=prefs.default_exit_plan or None)
        mode = prefs.mode
        if mode not in modes_allowed():
            raise InvalidInput(f"Your account is set to {mode} mode, which this desk does not run.", "mode_not_allowed")
        wallet = _wallet_for(trader, mode, book)
        risk_check_entry(trader=trader, amount_lamports=amount, book=book)
        available = balance_available(mode=mode, wallet=wallet, ledger=ledger, book=book)
        if amount > available:
            raise InsufficientBalance(
                f"You have {available / 10**9:.4f} SOL available, less than the {amount / 10**9:.4f} SOL this buy needs.",
                "insufficient_balance",
            )
        if token.pk is None:
            token = Token.objects.get_or_create(mint=token.mint, defaults={"decimals": token.decimals, "symbol": token.symbol})[0]
        position = Position(
            trader=trader, wallet=wallet, token=token, mode=mode, status=PositionStatus.OPENING, cost_lamports=amount
        )
        position.save(force_insert=True)
        plan, legs = exit_plan_build(position=position, spec=spec)
        plan.save(force_insert=True)
        ExitLeg.objects.bulk_create(legs)
        quote = paper_quote(side=OrderSide.BUY, amount_in=amount, price=point.price, decimals=token.decimals)
        order = order_build(
            position=position,
            side=OrderSide.BUY,
            reason=reason,
            amount=amount,
            prefs=prefs,
            slippage_bps=slippage,
            expected_out=quote.amount_out if mode == Mode.PAPER else None,
        )
        order.save(force_insert=True)
        order_enqueue(order_id=order.id)
    return position


def exit_order_create(
    *, position_id: int, amount: int, reason: str, leg_id: int | None = None, slippage_bps: int | None = None
) -> Order | None:
    """Claim the position's one exit slot with a sell order of `amount` base units and queue it on commit.

    Returns None when another exit is already in flight (the database allows one) or the position is not
    open; the caller simply tries again on a later tick. Used by manual sells, operator closes and retries; the exit
    engine claims in bulk (trading.tpsl.claim) with the same builder and exits_mark_claimed.
    """
    if reason not in OrderReason.values:
        raise ValueError(f"unknown exit reason {reason!r}")
    try:
        with transaction.atomic():
            position = (
                Position.objects.select_for_update(of=("self",)).select_related("trader__settings").get(id=position_id)
            )
            if position.status != PositionStatus.OPEN or not 0 < amount <= position.size:
                return None
            order = order_build(
                position=position,
                side=OrderSide.SELL,
                reason=reason,
                amount=amount,
                prefs=getattr(position.trader, "settings", None),
                leg_id=leg_id,
                slippage_bps=slippage_bps,
            )
            order.save(force_insert=True)
            exits_mark_claimed(
                closing=[position.id] if amount == position.size else [], leg_ids=[] if leg_id is None else [leg_id]
            )
            order_enqueue(order_id=order.id)
    except IntegrityError:
        return None
    return order


def exits_mark_claimed(*, closing: list[int], leg_ids: list[int]) -> None:
    """What exit orders that won their positions' exit slots reserve: positions sold whole go to CLOSING, the
    take-profit legs they sell to CLAIMED (both undone by order_fail)."""
    if closing:
        Position.objects.filter(id__in=closing, status=PositionStatus.OPEN).update(
            status=PositionStatus.CLOSING, updated_at=timezone.now()
        )
    if leg_ids:
        ExitLeg.objects.filter(id__in=leg_ids, status=ExitLeg.Status.PENDING).update(status=ExitLeg.Status.CLAIMED)


def position_sell(*, trader: Trader, position_id: int, percent, reason: str = "manual") -> Order:
    """Sell `percent` (0 < p <= 100) of what the position holds now; 100 closes it."""
    percent = percent_validate(percent)
    position = Position.objects.filter(id=position_id, trader=trader).first()
    if position is None:
        raise NotFound("You have no position with that number.", "position_not_found")
    if position.status == PositionStatus.OPENING:
        raise Conflict("That position is still being bought; sell it once the buy confirms.", "position_opening")
    if position.status in (PositionStatus.CLOSED, PositionStatus.FAILED):
        raise Conflict("That position is already closed.", "position_closed")
    amount = position.size if percent == 100 else int((position.size * percent / 100).to_integral_value(ROUND_FLOOR))
    if amount <= 0:
        raise InvalidInput("That percentage is less than one unit of the token; sell a larger share.", "amount_too_small")
    order = exit_order_create(position_id=position.id, amount=amount, reason=reason)
    if order is None:
        raise Conflict("A sell of that position is already under way; wait for it to finish.", "exit_in_flight")
    return order


def position_close(*, position_id: int, reason: str = OrderReason.KILL) -> Order | None:
    """Sell everything a position holds (operator action). None if an exit is already in flight."""
    position = Position.objects.filter(id=position_id).first()
    if position is None:
        raise NotFound("There is no position with that number.", "position_not_found")
    return exit_order_create(position_id=position.id, amount=position.size, reason=reason)


RETRIED_MARK = " [retried as a new buy]"


def order_retry(*, order_id: int) -> Order:
    """Retry a failed order (operator action). A failed sell: a new sell of what the position still holds. A failed
    buy (nothing was bought: buys fail only before sending or when the swap failed on chain): the same buy placed again
    as a new position and order, through position_open, so the kill switch, risk limits and balance apply now; each
    failed buy can be retried once (marked in its error, in the same transaction)."""
    order = Order.objects.select_related("position__token", "position__exit_plan", "position__trader").filter(id=order_id).first()
    if order is None:
        raise NotFound("There is no order with that number.", "order_not_found")
    if order.status != OrderStatus.FAILED:
        raise Conflict("Only a failed order can be retried.", "not_retryable")
    if order.side == OrderSide.WITHDRAW:
        raise Conflict("A failed withdrawal is not retried here; the trader asks for it again.", "not_retryable")
    if order.side == OrderSide.BUY:
        return _buy_retry(order)
    amount = min(order.amount_in, order.position.size)
    retry = exit_order_create(position_id=order.position_id, amount=amount, reason=order.reason, leg_id=order.leg_id)
    if retry is None:
        raise Conflict("That position is not open or already has a sell under way.", "exit_in_flight")
    return retry


def _buy_retry(order: Order) -> Order:
    position = order.position
    plan = getattr(position, "exit_plan", None)
    with transaction.atomic():
        marked = (
            Order.objects.filter(id=order.id, status=OrderStatus.FAILED)
            .exclude(error__endswith=RETRIED_MARK)
            .update(error=Concat(F("error"), Value(RETRIED_MARK)))
        )
        if not marked:
            raise Conflict("That failed buy was already placed again.", "already_retried")
        retried = position_open(
            trader=position.trader,
            mint=position.token.mint,
            amount_lamports=order.amount_in,
            exit_plan=plan.spec if plan is not None else None,
            slippage_bps=order.slippage_bps,
        )
        return retried.orders.get()
