"""Applying a fill: the one place a position's size, cost and PnL change. The landing loop calls it for every mode."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from trading.errors import Conflict
from trading.events import event_publish
from trading.models import ExitLeg, Mode, Order, OrderSide, OrderStatus, PaperLedger, Position, PositionStatus
from trading.models.choices import LAMPORTS_PER_SOL, SOL_MINT
from trading.tpsl.plans import spec_from_json, spec_summary
from trading.tpsl.triggers import TRIGGER_FIELDS, position_triggers_refresh

logger = logging.getLogger(__name__)

# What a fill changes on its position (the trigger prices included); the rest (owner, token, mode) never changes.
FILLED_FIELDS = (
    "status", "size", "original_size", "cost_lamports", "entry_price", "realised_pnl_lamports", "proceeds_lamports",
    "fees_lamports", "rent_lamports", "peak_price", "opened_at", "closed_at", "updated_at", *TRIGGER_FIELDS, "exit_stuck_at",
)


def effective_price(*, lamports: int, base_units: int, decimals: int) -> Decimal:
    """SOL per whole token for `lamports` paid or received for `base_units` of a token with `decimals`."""
    return (Decimal(lamports) / LAMPORTS_PER_SOL) / (Decimal(base_units) / (Decimal(10) ** decimals))


def order_locked(order_id: int) -> Order:
    """A swap's order under its row lock and its position's, read with what a fill needs (the position's token and
    exit plan). Call inside a transaction. Raises Order.DoesNotExist for an order without a position."""
    return (
        Order.objects.select_for_update(of=("self", "position"))
        .select_related("position__token", "position__exit_plan")
        .get(id=order_id, position__isnull=False)  # a swap has its position: an inner join, so the row lock can take it
    )


def position_apply_fill(
    *, order_id: int, in_amount: int, out_amount: int, price: Decimal, fee_lamports: int, rent_lamports: int = 0,
    attempt: dict | None = None, locked: Order | None = None,
) -> Order:
    """Record a confirmed swap: update the position, confirm the order, publish the event, in one transaction.

    Buy: `in_amount` lamports spent (fees included), `out_amount` token base units received.
    Sell: `in_amount` token base units sold, `out_amount` lamports received (net of fees).
    `rent_lamports`: token account rent the swap paid (+, an account created) or got back (-, an account closed), kept
    apart from both amounts: a deposit, not a cost. Realised PnL counts it when the position closes with rent paid and
    not returned (the account was left open), or returned rent another position paid (see _apply_sell).
    `attempt`: order fields of the attempt that landed, written with the confirmation (a chain that lands at once).
    `locked`: the order as `order_locked` read it in the caller's transaction (a chain that lands at once lands the
    whole order under that lock); else it is read here.
    Idempotent: a second call for an already confirmed order changes nothing and returns it.
    """
    for name, value in (("in_amount", in_amount), ("out_amount", out_amount), ("fee_lamports", fee_lamports)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if isinstance(rent_lamports, bool) or not isinstance(rent_lamports, int):
        raise ValueError(f"rent_lamports must be an integer, got {rent_lamports!r}")
    with transaction.atomic():
        order = locked if locked is not None else order_locked(order_id)
        if order.status == OrderStatus.CONFIRMED:
            return order
        if order.status == OrderStatus.FAILED:
            raise Conflict(f"Order {order.id} already failed; a fill cannot be applied to it.", "order_finished")
        position = order.position
        source = order.status
        now = timezone.now()
        fields = {
            **(attempt or {}), "amount_out_actual": out_amount, "fill_price": price, "fee_lamports": fee_lamports,
            "rent_lamports": rent_lamports, "confirmed_at": now,
        }
        if (attempt or source == OrderStatus.SIGNED) and order.submitted_at is None:
            fields["submitted_at"] = now  # sent and seen confirmed at the first look (the landing loop skips "submitted")
        for name, value in fields.items():
            setattr(order, name, value)
        # A position still opening has sold nothing, so none of its take-profit legs can be filled: no need to ask.
        legs_filled = [] if position.status == PositionStatus.OPENING else None
        if order.side == OrderSide.BUY:
            _apply_buy(position, order, in_amount, out_amount, fee_lamports)
            kind, payload = "position.opened", _opened_payload(position, order)
        else:
            payload = _apply_sell(position, order, in_amount, out_amount, price, fee_lamports)
            fields["realised_pnl_lamports"] = order.realised_pnl_lamports = payload["realised_pnl_lamports"]
            kind = "exit.filled"
        position_triggers_refresh(position=position, legs_filled=legs_filled)
        position.save(update_fields=FILLED_FIELDS)
        won = Order.objects.filter(id=order.id, status=source).update(
            status=OrderStatus.CONFIRMED, updated_at=now, **fields
        )
        if won != 1:
            raise RuntimeError(f"order {order.id} moved while locked")
        order.status, order.updated_at = OrderStatus.CONFIRMED, now
        event_publish(kind=kind, trader_id=position.trader_id, payload=payload)
        if order.side == OrderSide.SELL and position.status == PositionStatus.CLOSED:
            event_publish(kind="position.closed", trader_id=position.trader_id, payload=payload)
    logger.info("order %s confirmed: in=%s out=%s", order.id, in_amount, out_amount)
    return order


def _apply_buy(position: Position, order: Order, in_amount: int, out_amount: int, fee: int) -> None:
    if out_amount <= 0:
        raise ValueError("a buy fill must receive tokens")
    position.size += out_amount
    position.original_size += out_amount
    position.cost_lamports = in_amount if position.status == PositionStatus.OPENING else position.cost_lamports + in_amount
    position.fees_lamports += fee
    position.rent_lamports += order.rent_lamports
    position.entry_price = effective_price(
        lamports=position.cost_lamports, base_units=position.size, decimals=position.token.decimals
    )
    position.peak_price = max(position.peak_price or Decimal(0), position.entry_price)
    if position.status == PositionStatus.OPENING:
        position.status = PositionStatus.OPEN
        position.opened_at = timezone.now()


def _apply_sell(position: Position, order: Order, sold: int, received: int, price: Decimal, fee: int) -> dict:
    if sold > position.size:
        raise ValueError(f"sell of {sold} exceeds position size {position.size}")
    basis = position.cost_lamports * sold // position.size if position.size else 0
    pnl = received - basis
    position.size -= sold
    position.rent_lamports += order.rent_lamports
    if position.size == 0:
        # Rent is a deposit: nothing while the account is open. Closing the position settles it: rent this position
        # paid and did not get back (its account left open) is a loss; rent returned for an account another position
        # paid for is a gain.
        pnl -= position.rent_lamports
    position.cost_lamports -= basis
    position.realised_pnl_lamports += pnl
    if position.mode == Mode.PAPER:
        PaperLedger.objects.filter(trader_id=position.trader_id).update(realised_pnl_lamports=F("realised_pnl_lamports") + pnl)
    position.proceeds_lamports += received
    position.fees_lamports += fee
    if order.leg_id:
        ExitLeg.objects.filter(id=order.leg_id).update(status=ExitLeg.Status.FILLED, filled_at=timezone.now())
    if position.size == 0:
        position.status = PositionStatus.CLOSED
        position.closed_at = timezone.now()
        position.cost_lamports = 0
    else:
        position.status = PositionStatus.OPEN
    plan = position.exit_plan
    legs_done = plan.legs.filter(status=ExitLeg.Status.FILLED).count()
    return {
        "position_id": position.id,
        "order_id": order.id,
        "mint": position.token.mint,
        "symbol": position.token.symbol,
        "reason": order.reason,
        "leg": None if order.leg_id is None else order.leg.index,
        "sold": sold,
        "received_lamports": received,
        "fee_lamports": order.fee_lamports,
        "rent_lamports": order.rent_lamports,
        "price": str(price),
        "realised_pnl_lamports": pnl,
        "total_realised_pnl_lamports": position.realised_pnl_lamports,
        "remaining_size": position.size,
        "plan": spec_summary(spec_from_json(plan.spec), legs_done=legs_done),
    }


def _opened_payload(position: Position, order: Order) -> dict:
    return {
        "position_id": position.id,
        "order_id": order.id,
        "mint": position.token.mint,
        "symbol": position.token.symbol,
        "size": position.size,
        "cost_lamports": position.cost_lamports,
        "amount_lamports": order.amount_in,
        "fee_lamports": order.fee_lamports,
        "rent_lamports": order.rent_lamports,
        "entry_price": str(position.entry_price),
        "mode": position.mode,
        "plan": spec_summary(spec_from_json(position.exit_plan.spec)),
    }


def withdrawal_apply_fill(*, order_id: int, sent: int, fee_lamports: int, attempt: dict | None = None) -> Order:
    """Record a landed withdrawal in one transaction: the order confirmed with what left the wallet (`sent`: lamports
    of SOL, or base units of the token; `fee_lamports`: the network fee and any account rent paid); a token's
    position gives up the tokens and their share of its cost basis (no PnL: nothing was sold); on paper the ledger's
    withdrawn SOL grows by the SOL sent (or the tokens' cost) and the fee. Idempotent like `position_apply_fill`."""
    for name, value in (("sent", sent), ("fee_lamports", fee_lamports)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("trader").get(id=order_id)
        if order.status == OrderStatus.CONFIRMED:
            return order
        if order.status == OrderStatus.FAILED:
            raise Conflict(f"Order {order.id} already failed; a fill cannot be applied to it.", "order_finished")
        source, now = order.status, timezone.now()
        fields = {**(attempt or {}), "amount_out_actual": sent, "fee_lamports": fee_lamports, "confirmed_at": now}
        if (attempt or source == OrderStatus.SIGNED) and order.submitted_at is None:
            fields["submitted_at"] = now
        paper_out, mint, symbol, decimals = sent + fee_lamports, SOL_MINT, "SOL", 9
        if order.position_id is not None:
            position = (Position.objects.select_for_update(of=("self",)).select_related("token", "exit_plan")
                        .get(id=order.position_id))
            mint, symbol, decimals = position.token.mint, position.token.symbol, position.token.decimals
            taken = min(sent, position.size)
            if taken != sent:
                logger.error("withdrawal %s sent %s but its position holds %s", order.id, sent, position.size)
            basis = position.cost_lamports * taken // position.size if position.size else 0
            position.size -= taken
            position.cost_lamports -= basis
            position.fees_lamports += fee_lamports
            if position.size == 0:
                position.status, position.closed_at, position.cost_lamports = PositionStatus.CLOSED, now, 0
            else:
                position.status = PositionStatus.OPEN  # from closing, where the withdrawal held it
            position_triggers_refresh(position=position)
            position.save(update_fields=FILLED_FIELDS)
            paper_out = basis + fee_lamports
        if order.mode == Mode.PAPER:
            PaperLedger.objects.filter(trader_id=order.trader_id).update(
                withdrawn_lamports=F("withdrawn_lamports") + paper_out)
        if Order.objects.filter(id=order.id, status=source).update(status=OrderStatus.CONFIRMED, updated_at=now,
                                                                    **fields) != 1:
            raise RuntimeError(f"order {order.id} moved while locked")
        order.status = OrderStatus.CONFIRMED
        event_publish(kind="withdrawal.landed", trader=order.trader, payload={
            "order_id": order.id, "mint": mint, "symbol": symbol, "decimals": decimals, "sent": sent,
            "fee_lamports": fee_lamports, "destination": order.destination, "mode": order.mode,
            "signature": fields.get("signature", order.signature),
        })
    logger.info("withdrawal %s confirmed: sent %s to %s", order.id, sent, order.destination)
    return order
