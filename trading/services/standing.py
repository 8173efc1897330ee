"""Limit orders and DCA plans: placing, cancelling, pausing. Every refusal is one sentence and writes nothing.

What fires them lives elsewhere: limit orders are found by the exit engine's trigger lookup and placed by
trading.tpsl.limits; DCA buys by the beat task `trading.dca_run` (trading.services.dca). Both place ordinary orders
through position_open / position_sell.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trading.errors import Conflict, InvalidInput, NoPrice, NotFound
from trading.models import DcaPlan, LimitOrder, OrderSide, Position, PositionStatus, Token, Trader
from trading.models.choices import PRICE_DIGITS, PRICE_PLACES
from trading.numbers import plain_decimal
from trading.prices import price_fresh
from trading.services.amounts import amount_validate, mint_validate, percent_validate
from trading.services.exits import exit_spec_resolve
from trading.services.quotes import token_from
from trading.tpsl.plans import spec_to_json

QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
PRICE_MAX = Decimal(10) ** (PRICE_DIGITS - PRICE_PLACES)  # what the price column holds


def limit_price_validate(price) -> Decimal:
    """A level in SOL per whole token: a plain positive number the price column holds (to 20 places)."""
    if isinstance(price, (bool, float)):
        raise InvalidInput("Give the limit price as a number of SOL per token, like 0.00012.", "invalid_price")
    if isinstance(price, (int, Decimal)):
        value = Decimal(price)
        if not value.is_finite() or value.is_signed() and value != 0:
            raise InvalidInput("A limit price must be more than zero.", "invalid_price")
    else:
        value = plain_decimal(str(price), what="the limit price in SOL per token", example="0.00012")
    value = value.quantize(QUANTUM, rounding=ROUND_HALF_UP) if value < PRICE_MAX else value
    if value <= 0:
        raise InvalidInput("A limit price must be more than zero.", "invalid_price")
    if value >= PRICE_MAX:
        raise InvalidInput("That limit price is far too large to be meant; check the number of digits.", "price_absurd")
    return value


def _level(*, mint: str, price: Decimal) -> tuple[str, Decimal]:
    """(direction, current price): which way the price must move to reach `price`. Refuses a level the price is at now
    (that is a market order) and one absurdly far from it."""
    point = price_fresh(mint=mint)
    if point is None:
        raise NoPrice("There is no current price for that token, so a limit order cannot be judged; try again later.",
                      "no_price")
    now = point.price
    ratio = Decimal(settings.LIMIT_PRICE_MAX_RATIO)
    if price > now * ratio or price * ratio < now:
        raise InvalidInput(f"A limit price of {price.normalize():f} SOL is more than {ratio}x away from the current "
                           f"price ({now:.6g} SOL); check the number.", "price_absurd")
    if price == now.quantize(QUANTUM, rounding=ROUND_HALF_UP):
        raise InvalidInput("That is the current price; buy or sell at market instead.", "price_at_market")
    return (LimitOrder.Direction.BELOW if price < now else LimitOrder.Direction.ABOVE), now


def limit_expiry_validate(expires_at: datetime, *, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    if not isinstance(expires_at, datetime):
        raise InvalidInput("Give the expiry as a date and time.", "invalid_expiry")
    if expires_at <= now:
        raise InvalidInput("That expiry is in the past; give one in the future.", "expiry_past")
    if expires_at > now + timedelta(days=settings.LIMIT_MAX_EXPIRY_DAYS):
        raise InvalidInput(f"A limit order lives at most {settings.LIMIT_MAX_EXPIRY_DAYS} days; choose an earlier expiry.",
                           "expiry_too_far")
    return expires_at


def _token(mint: str) -> Token:
    token = Token.objects.filter(mint=mint).first()
    if token is not None:
        return token
    made = token_from(mint=mint, token=None, point=price_fresh(mint=mint))
    return Token.objects.get_or_create(mint=made.mint, defaults={"decimals": made.decimals, "symbol": made.symbol})[0]


def limit_buy_create(
    *, trader: Trader, mint: str, amount_lamports: int, price, expires_at: datetime, exit_plan=None,
    accepted: tuple[str, ...] = (),
) -> LimitOrder:
    """Buy `amount_lamports` of `mint` once the price reaches `price`: below the current price a dip buy (fires at or
    under the level), above it a breakout (at or over). The kill switch, risk limits, balance and the token's safety
    card are checked when it fires; `accepted`: the critical findings the trader accepted for it."""
    mint = mint_validate(mint)
    amount = amount_validate(amount_lamports)
    level = limit_price_validate(price)
    expires_at = limit_expiry_validate(expires_at)
    spec = exit_spec_resolve(spec=exit_plan, default=None) if exit_plan is not None else None
    direction, _ = _level(mint=mint, price=level)
    return LimitOrder.objects.create(
        trader=trader, token=_token(mint), side=OrderSide.BUY, direction=direction, price=level, amount_lamports=amount,
        exit_plan=spec_to_json(spec) if spec is not None else None, accepted_risks=list(accepted), expires_at=expires_at,
    )


def limit_sell_create(*, trader: Trader, position_id: int, percent, price, expires_at: datetime) -> LimitOrder:
    """Sell `percent` of what position `position_id` holds then, once the price reaches `price` (above the current
    price: a take-profit; below: a stop)."""
    percent = percent_validate(percent)
    level = limit_price_validate(price)
    expires_at = limit_expiry_validate(expires_at)
    position = Position.objects.select_related("token").filter(id=position_id, trader=trader).first()
    if position is None:
        raise NotFound("You have no position with that number.", "position_not_found")
    if position.status != PositionStatus.OPEN:
        raise Conflict("That position is not open, so it cannot get a limit sell.", "position_not_open")
    direction, _ = _level(mint=position.token.mint, price=level)
    return LimitOrder.objects.create(
        trader=trader, token=position.token, side=OrderSide.SELL, direction=direction, price=level, position=position,
        percent=percent, expires_at=expires_at,
    )


def limit_cancel(*, trader: Trader, limit_id: int) -> LimitOrder:
    """Cancel an active limit order (a compare-and-swap: one that fired or ended first stays as it is)."""
    changed = LimitOrder.objects.filter(id=limit_id, trader=trader, status=LimitOrder.Status.ACTIVE).update(
        status=LimitOrder.Status.CANCELLED, note="Cancelled by you.", ended_at=timezone.now()
    )
    limit = LimitOrder.objects.filter(id=limit_id, trader=trader).first()
    if limit is None:
        raise NotFound("You have no limit order with that number.", "limit_not_found")
    if not changed:
        raise Conflict(f"That limit order is already {limit.get_status_display().lower()}.", "limit_not_active")
    return limit


# --- DCA ---------------------------------------------------------------------------------------------------------
def _count(value, *, what: str, code: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"The {what} must be a whole number.", code)
    if value <= 0:
        raise InvalidInput(f"The {what} must be at least 1.", code)
    if value > maximum:
        raise InvalidInput(f"The {what} can be at most {maximum}.", code)
    return value


def dca_create(
    *, trader: Trader, mint: str, amount_lamports: int, buys: int, interval_seconds: int, price_ceiling=None,
    spend_cap_lamports: int | None = None, exit_plan=None, start_at: datetime | None = None,
) -> DcaPlan:
    """Buy `amount_lamports` of `mint` `buys` times, every `interval_seconds` (the first buy at once, or at `start_at`).
    Stop conditions: the price above `price_ceiling`, or the next buy taking the total past `spend_cap_lamports`."""
    mint = mint_validate(mint)
    amount = amount_validate(amount_lamports)
    buys = _count(buys, what="number of buys", code="invalid_buys", maximum=settings.DCA_MAX_BUYS)
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int):
        raise InvalidInput("The interval must be a whole number of seconds.", "invalid_interval")
    if interval_seconds < settings.DCA_MIN_INTERVAL_SECONDS:
        raise InvalidInput(f"The interval between buys must be at least {settings.DCA_MIN_INTERVAL_SECONDS} seconds.",
                           "interval_too_short")
    if interval_seconds > 365 * 24 * 3600:
        raise InvalidInput("The interval between buys can be at most a year.", "interval_too_long")
    ceiling = limit_price_validate(price_ceiling) if price_ceiling is not None else None
    if spend_cap_lamports is not None:
        cap = amount_validate(spend_cap_lamports)
        if cap < amount:
            raise InvalidInput("The total to spend is less than one buy; raise it or lower the amount.", "cap_below_buy")
    else:
        cap = None
    spec = exit_spec_resolve(spec=exit_plan, default=None) if exit_plan is not None else None
    return DcaPlan.objects.create(
        trader=trader, token=_token(mint), amount_lamports=amount, buys_total=buys, interval_seconds=interval_seconds,
        price_ceiling=ceiling, spend_cap_lamports=cap, exit_plan=spec_to_json(spec) if spec is not None else None,
        next_run_at=start_at or timezone.now(),
    )


_STATE_MOVES = {
    "pause": ((DcaPlan.State.ACTIVE,), DcaPlan.State.PAUSED, "Paused by you."),
    "resume": ((DcaPlan.State.PAUSED,), DcaPlan.State.ACTIVE, ""),
    "cancel": ((DcaPlan.State.ACTIVE, DcaPlan.State.PAUSED), DcaPlan.State.CANCELLED, "Cancelled by you."),
}


def dca_set_state(*, trader: Trader, plan_id: int, action: str) -> DcaPlan:
    """Pause, resume or cancel a plan (a compare-and-swap on its state). A resumed plan's next buy is due at once
    if its time passed while it was paused."""
    if action not in _STATE_MOVES:
        raise InvalidInput("A DCA plan can be paused, resumed or cancelled.", "invalid_action")
    allowed, target, note = _STATE_MOVES[action]
    with transaction.atomic():
        changed = DcaPlan.objects.filter(id=plan_id, trader=trader, state__in=allowed).update(
            state=target, note=note, updated_at=timezone.now()
        )
        plan = DcaPlan.objects.filter(id=plan_id, trader=trader).first()
    if plan is None:
        raise NotFound("You have no DCA plan with that number.", "dca_not_found")
    if not changed:
        raise Conflict(f"That DCA plan is {plan.get_state_display().lower()}, so it cannot be {action}d.",
                       "dca_wrong_state")
    return plan
