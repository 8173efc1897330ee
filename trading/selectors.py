"""Reads of the trading core (no writes): positions, balances, PnL, prices."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from monitoring import metrics
from trading.errors import NotFound, VenueError
from trading.execution.clients import venues_in_order
from trading.execution.fills import effective_price
from trading.models import DcaPlan, LaunchWatch, LimitOrder, Order, OrderSide, OrderStatus, Position, Trader, Wallet
from trading.models.choices import LAMPORTS_PER_SOL, POSITION_LIVE
from trading.prices import PricePoint, price_fresh, price_get as _price_get, prices_get_many, sol_usd_get
from trading.services.quotes import onchain_balance, paper_balance


def position_list_open(*, trader: Trader) -> QuerySet[Position]:
    """The trader's positions that are opening, open or closing, newest first, with token and exit plan."""
    return (
        Position.objects.filter(trader=trader, status__in=POSITION_LIVE)
        .select_related("token", "exit_plan", "wallet")
        .order_by("-id")
    )


def position_get(*, trader: Trader, position_id: int) -> Position:
    position = (
        Position.objects.select_related("token", "exit_plan", "wallet").filter(id=position_id, trader=trader).first()
    )
    if position is None:
        raise NotFound("You have no position with that number.", "position_not_found")
    return position


def order_list(*, trader: Trader, limit: int = 20) -> QuerySet[Order]:
    return Order.objects.filter(position__trader=trader).select_related("position__token").order_by("-id")[:limit]


def price_get(*, mint: str) -> PricePoint | None:
    """The cached price (Decimal SOL per whole token + timestamp), or None: no data, never zero."""
    return _price_get(mint=mint)


def price_now(*, mint: str) -> PricePoint | None:
    """The price fetched from the feed now (the cached one when the feed cannot answer); None: no data."""
    return price_fresh(mint=mint, max_age=0) or _price_get(mint=mint)


def position_pnl(*, position: Position, price: Decimal | None) -> dict | None:
    """Unrealised PnL of what the position still holds at `price`: lamports, percent of its cost, and USD at SOL's
    cached USD price (None when there is none). None without a price."""
    if price is None:
        return None
    value = position_value_lamports(position=position, price=price)
    pnl = value - position.cost_lamports
    return {"value_lamports": value, **_pnl_figures(pnl, position.cost_lamports)}


def _pnl_figures(pnl: int, basis: int) -> dict:
    """PnL in lamports, in percent of `basis` (None when nothing was paid) and in USD at SOL's cached USD price
    (None when there is none): the one way every PnL figure is turned into percent and dollars."""
    pct = (Decimal(pnl) * 100 / Decimal(basis)) if basis else None
    sol_usd = sol_usd_get()
    usd = None if sol_usd is None else (Decimal(pnl) / LAMPORTS_PER_SOL * sol_usd.price).quantize(Decimal("0.01"))
    return {"pnl_lamports": pnl, "pnl_pct": pct, "pnl_usd": usd}


def position_realised_pnl(*, position: Position) -> dict:
    """What a position's sells made (all of it once closed): PnL in lamports, percent of the cost of what was sold
    and USD; that cost and the proceeds; entry price and average exit price (SOL per whole token, fees included;
    None before a sell); opened and closed times. Figures as the fills recorded them (trading.execution.fills)."""
    sold = position.original_size - position.size
    basis = position.proceeds_lamports - position.realised_pnl_lamports  # the cost basis of what was sold
    exit_price = (effective_price(lamports=position.proceeds_lamports, base_units=sold, decimals=position.token.decimals)
                  if sold > 0 else None)
    return {**_pnl_figures(position.realised_pnl_lamports, basis), "cost_lamports": basis,
            "proceeds_lamports": position.proceeds_lamports, "entry_price": position.entry_price,
            "exit_price": exit_price, "opened_at": position.opened_at, "closed_at": position.closed_at}


PNL_PERIODS = ("today", "week", "all")


def pnl_period_start(period: str, now=None):
    """Where a /pnl period starts (UTC): midnight today, Monday of this week, or None for all time."""
    if period not in PNL_PERIODS:
        raise ValueError(f"unknown period {period!r}")
    now = now or timezone.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"today": day, "week": day - timedelta(days=day.weekday()), "all": None}[period]


def pnl_period(*, trader: Trader, period: str) -> dict:
    """Realised PnL of the trader's sells confirmed in `period` (today, week, all; UTC): lamports, percent of the cost
    of what those sells sold, USD; that cost, the proceeds, the number of sells and closed positions, and the start."""
    start = pnl_period_start(period)
    sells = Order.objects.filter(position__trader=trader, side=OrderSide.SELL, status=OrderStatus.CONFIRMED)
    closed = Position.objects.filter(trader=trader, status="closed")
    if start is not None:
        sells, closed = sells.filter(confirmed_at__gte=start), closed.filter(closed_at__gte=start)
    figures = sells.aggregate(pnl=Sum("realised_pnl_lamports"), proceeds=Sum("amount_out_actual"), sells=Count("id"))
    pnl, proceeds = figures["pnl"] or 0, figures["proceeds"] or 0
    return {**_pnl_figures(pnl, proceeds - pnl), "cost_lamports": proceeds - pnl, "proceeds_lamports": proceeds,
            "sells": figures["sells"], "closed_positions": closed.count(), "start": start}


def value_lamports(*, size: int, decimals: int, price: Decimal) -> int:
    """What `size` base units of a token with `decimals` are worth at `price` (SOL per whole token), rounded down."""
    whole_tokens = Decimal(size) / (Decimal(10) ** decimals)
    return int((whole_tokens * price * LAMPORTS_PER_SOL).to_integral_value(ROUND_FLOOR))


def position_value_lamports(*, position: Position, price: Decimal) -> int:
    return value_lamports(size=position.size, decimals=position.token.decimals, price=price)


def wallet_active_get(*, trader: Trader) -> Wallet | None:
    """The wallet new buys use: the trader's active wallet (their first when none is marked), None without wallets."""
    return Wallet.objects.filter(trader=trader).order_by("-active", "id").first()


def wallet_balances(*, trader: Trader) -> dict:
    """Paper balance and each wallet's name, active flag and on-chain SOL (None when the chain cannot be reached now)."""
    wallets = []
    active = wallet_active_get(trader=trader)
    for wallet in trader.wallets.order_by("id"):
        try:
            lamports = onchain_balance(wallet=wallet)
        except VenueError:
            lamports = None
        wallets.append({"id": wallet.id, "public_key": wallet.public_key, "lamports": lamports, "name": wallet.name,
                        "active": active is not None and wallet.id == active.id})
    return {"paper_lamports": paper_balance(trader=trader), "wallets": wallets}


def pnl_summary(*, trader: Trader) -> dict:
    """Realised PnL today / this week / all time (UTC) and the unrealised PnL of open positions at cached prices.

    Positions without a cached price are left out of the unrealised figure and counted in `unpriced_positions`.
    """
    now = timezone.now()
    day, week = pnl_period_start("today", now), pnl_period_start("week", now)
    sells = Order.objects.filter(position__trader=trader, side=OrderSide.SELL, status=OrderStatus.CONFIRMED)
    realised = sells.aggregate(  # the three periods in one query
        today=Sum("realised_pnl_lamports", filter=Q(confirmed_at__gte=day)),
        week=Sum("realised_pnl_lamports", filter=Q(confirmed_at__gte=week)),
        all=Sum("realised_pnl_lamports"),
    )
    held = list(Position.objects.filter(trader=trader, status__in=POSITION_LIVE, size__gt=0).select_related("token"))
    prices = prices_get_many(mints=list({p.token.mint for p in held}))
    unrealised = unpriced = 0
    for position in held:
        point = prices.get(position.token.mint)
        if point is None:
            unpriced += 1
            continue
        unrealised += position_value_lamports(position=position, price=point.price) - position.cost_lamports
    return {
        "today": {"realised_lamports": realised["today"] or 0, "unrealised_lamports": unrealised},
        "week": {"realised_lamports": realised["week"] or 0, "unrealised_lamports": unrealised},
        "all": {"realised_lamports": realised["all"] or 0, "unrealised_lamports": unrealised},
        "unpriced_positions": unpriced,
    }


TRENDING_CACHE_SECONDS = 60  # bags.fm allows 1,000-5,000 calls an hour per key: one call a minute serves every trader


def bags_top_tokens(*, limit: int = 8) -> list:
    """bags.fm's top tokens (trading.venues.bags.TopToken), ranked as bags.fm ranks them, cached a minute in Redis.
    Raises VenueError when bags.fm cannot be reached and nothing is cached."""
    key = "trading:bags:top-tokens"
    rows = cache.get(key)
    if rows is None:
        metrics.cache_miss("top_tokens")
        bags = next(v for v in venues_in_order() if v.name == "bags")
        rows = bags.top_tokens()
        cache.set(key, rows, TRENDING_CACHE_SECONDS)
    else:
        metrics.cache_hit("top_tokens")
    return rows[:limit]


def standing_orders(*, trader: Trader) -> tuple[list[LimitOrder], list[DcaPlan]]:
    """The trader's active limit orders and running (active or paused) DCA plans, oldest first."""
    limits = list(LimitOrder.objects.filter(trader=trader, status=LimitOrder.Status.ACTIVE).select_related("token")
                  .order_by("id"))
    plans = list(DcaPlan.objects.filter(trader=trader, state__in=(DcaPlan.State.ACTIVE, DcaPlan.State.PAUSED))
                 .select_related("token").order_by("id"))
    return limits, plans


def launch_watches_live(*, trader: Trader) -> list[LaunchWatch]:
    """The trader's launch watches still following their launch, oldest first."""
    return list(LaunchWatch.objects.filter(trader=trader, state__in=(LaunchWatch.State.WATCHING,
                                                                     LaunchWatch.State.LAUNCHED)).order_by("id"))
