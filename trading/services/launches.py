"""bags.fm launches: a trader watches a launch, is told when it graduates, and may buy on launch or on graduation.

The beat task `trading.launches_follow` polls bags.fm's launch feed (`BagsVenue.launch_feed`, a non-essential caller
on the shared rate limiter), records how full each watched curve is (read from its accounts on chain,
trading/launches.py) and moves each live watch of a mint in the feed along the launch states:

- PRE_GRAD (or later) with a buy on launch: the watch moves watching -> launched (a compare-and-swap) and its buy is
  tried once;
- MIGRATED: the watch moves to done (a compare-and-swap), the buy on graduation is tried once, and the trader is told
  (`launch.notice`, telegram_app turns it into a message).

A buy is an ordinary buy through position_open (kill switch, risk limits, balance, exit plan: the trader's default)
after the price ceiling (a price no older than an exit's) and the safety card (trading/services/safety.py, the trader's
risky_tokens setting). A refused buy is not retried: the watch records why and the trader is told. The state moves
before the buy is tried, so a crash in between loses the buy rather than placing it twice: each watch acts at most
once.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from trading.errors import Conflict, InvalidInput, NotFound, TokenRisk, TradingError, VenueError
from trading.events import event_publish
from trading.execution.clients import venues_in_order
from trading.launches import CurveKeys, curves_progress
from trading.models import LaunchWatch, OrderReason, Position, Token, Trader
from trading.prices import price_fresh
from trading.services.amounts import amount_validate, mint_validate
from trading.services.positions import position_open
from trading.services.safety import token_safety_check
from trading.services.standing import limit_price_validate

log = logging.getLogger(__name__)

LAUNCHED = frozenset({"PRE_GRAD", "MIGRATING", "MIGRATED"})
GRADUATED = "MIGRATED"
LIVE = (LaunchWatch.State.WATCHING, LaunchWatch.State.LAUNCHED)
MAX_LIVE_PER_TRADER = 50


def _ceiling_validate(value) -> Decimal:
    """A price ceiling follows the rules of a limit price (a plain positive number the price column holds)."""
    try:
        return limit_price_validate(value)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("limit price", "price ceiling").replace("A price ceiling", "A ceiling"),
                           exc.code) from None


def launch_watch_create(*, trader: Trader, mint: str, buy_on: str = "none", amount_lamports: int | None = None,
                        price_ceiling=None) -> LaunchWatch:
    """Watch `mint`; with `buy_on` launch or graduation, buy `amount_lamports` then unless the price is above
    `price_ceiling`. Bad input raises InvalidInput and writes nothing."""
    mint = mint_validate(mint)
    if buy_on not in LaunchWatch.BuyOn.values:
        raise InvalidInput("A watch buys on launch, on graduation, or not at all.", "invalid_buy_on")
    if buy_on == LaunchWatch.BuyOn.NONE:
        if amount_lamports is not None or price_ceiling is not None:
            raise InvalidInput("An amount or a ceiling needs a buy: say buy <amount> on launch or on graduation.",
                               "amount_without_buy")
        amount = ceiling = None
    else:
        if amount_lamports is None:
            raise InvalidInput("Say how much SOL to buy with, like buy 0.1 on graduation.", "invalid_amount")
        amount = amount_validate(amount_lamports)
        ceiling = None if price_ceiling is None else _ceiling_validate(price_ceiling)
    with transaction.atomic():
        live = LaunchWatch.objects.select_for_update().filter(trader=trader, state__in=LIVE)
        if any(w.mint == mint for w in live):
            raise Conflict("You already watch this launch; cancel that watch in /orders first.", "watch_exists")
        if len(live) >= MAX_LIVE_PER_TRADER:
            raise Conflict(f"You watch {MAX_LIVE_PER_TRADER} launches already; cancel one in /orders first.",
                           "too_many_watches")
        symbol = Token.objects.filter(mint=mint).values_list("symbol", flat=True).first() or ""
        return LaunchWatch.objects.create(trader=trader, mint=mint, symbol=symbol, buy_on=buy_on,
                                          amount_lamports=amount, price_ceiling=ceiling)


def launch_watch_cancel(*, trader: Trader, watch_id: int) -> LaunchWatch:
    """Cancel a live watch (a compare-and-swap: one that acted first stays as it is)."""
    changed = LaunchWatch.objects.filter(id=watch_id, trader=trader, state__in=LIVE).update(
        state=LaunchWatch.State.CANCELLED, note="Cancelled by you.")
    watch = LaunchWatch.objects.filter(id=watch_id, trader=trader).first()
    if watch is None:
        raise NotFound("You have no launch watch with that number.", "watch_not_found")
    if not changed:
        raise Conflict(f"That launch watch is already {watch.get_state_display().lower()}.", "watch_not_live")
    return watch


def _notice(watch: LaunchWatch, *, status: str, launch_status: str, bought: bool, note: str) -> None:
    event_publish(kind="launch.notice", trader=watch.trader, payload={
        "watch_id": watch.id, "mint": watch.mint, "symbol": watch.symbol, "status": status,
        "launch_status": launch_status, "bought": bought, "note": note,
        "position_id": watch.position_id,
    })


def _claim(watch: LaunchWatch, *, from_states, to_state: str) -> bool:
    """The compare-and-swap that lets a watch act once."""
    return bool(LaunchWatch.objects.filter(id=watch.id, state__in=from_states).update(state=to_state))


def _sol(lamports: int) -> str:
    return f"{Decimal(lamports) / 10**9:.4f}".rstrip("0").rstrip(".") + " SOL"


def _buy(watch: LaunchWatch) -> tuple[Position | None, str]:
    """The watch's buy, once: (its position, "") or (None, why not)."""
    point = price_fresh(mint=watch.mint, max_age=settings.TPSL_PRICE_MAX_AGE_SECONDS)
    if watch.price_ceiling is not None:
        if point is None:
            return None, "Not bought: no price for the token, so your ceiling could not be checked."
        if point.price > watch.price_ceiling:
            return None, (f"Not bought: the price ({point.price:.6g} SOL) is above your ceiling of "
                          f"{watch.price_ceiling.normalize():f} SOL.")
    try:
        token_safety_check(trader=watch.trader, mint=watch.mint)
        with transaction.atomic():
            position = position_open(trader=watch.trader, mint=watch.mint, amount_lamports=watch.amount_lamports,
                                     reason=OrderReason.LAUNCH)
    except TokenRisk as exc:
        return None, f"Not bought: {exc.message}"
    except TradingError as exc:
        return None, f"Not bought: {exc.message}"
    return position, ""


def _act(watch: LaunchWatch) -> tuple[bool, str]:
    position, note = _buy(watch)
    if position is not None:
        watch.position = position
        note = f"Bought {_sol(watch.amount_lamports)} of it."
    LaunchWatch.objects.filter(id=watch.id).update(position=position, note=note[:300])
    return position is not None, note


def launch_watch_step(*, watch_id: int, launch_status: str) -> str | None:
    """Move one watch along the launch status bags.fm reports now. Returns what it did (launched, graduated) or None."""
    watch = LaunchWatch.objects.select_related("trader").filter(id=watch_id, state__in=LIVE).first()
    if watch is None:
        return None
    if watch.launch_status != launch_status:
        LaunchWatch.objects.filter(id=watch.id).update(launch_status=launch_status)
    outcome = None
    if (watch.buy_on == LaunchWatch.BuyOn.LAUNCH and launch_status in LAUNCHED
            and _claim(watch, from_states=(LaunchWatch.State.WATCHING,), to_state=LaunchWatch.State.LAUNCHED)):
        bought, note = _act(watch)
        _notice(watch, status="launched", launch_status=launch_status, bought=bought, note=note)
        outcome = "launched"
    if launch_status == GRADUATED and _claim(watch, from_states=LIVE, to_state=LaunchWatch.State.DONE):
        bought, note = False, ""
        if watch.buy_on == LaunchWatch.BuyOn.GRADUATION:
            bought, note = _act(watch)
        _notice(watch, status="graduated", launch_status=launch_status, bought=bought, note=note)
        outcome = "graduated"
    return outcome


def launches_follow(*, rows=None) -> dict[int, str]:
    """Poll bags.fm's launch feed once and move every live watch of a mint in it (the beat task's body): watch id ->
    what it did. `rows`: the feed already read (LaunchRow list)."""
    if rows is None:
        if not LaunchWatch.objects.filter(state__in=LIVE).exists():
            return {}
        bags = next(v for v in venues_in_order() if v.name == "bags")
        try:
            rows = bags.launch_feed()
        except VenueError as exc:  # the next tick asks again; nothing changed
            log.warning("bags.fm launch feed not read: %s", exc.message)
            return {}
    status = {row.mint: row.status for row in rows}
    done = {}
    watches = LaunchWatch.objects.filter(state__in=LIVE, mint__in=list(status)).order_by("id")
    progress_record(rows=rows, mints=set(watches.values_list("mint", flat=True)))
    for watch_id, mint, symbol in watches.values_list("id", "mint", "symbol"):
        row_symbol = next((r.symbol for r in rows if r.mint == mint), "")
        if not symbol and row_symbol:
            LaunchWatch.objects.filter(id=watch_id, symbol="").update(symbol=row_symbol)
        outcome = launch_watch_step(watch_id=watch_id, launch_status=status[mint])
        if outcome is not None:
            done[watch_id] = outcome
    return done


def progress_record(*, rows, mints: set[str]) -> dict[str, Decimal]:
    """Read how full the curves of the watched launches on their curve (PRE_GRAD) are, one RPC call for them all, and
    write it on their live watches (trading/launches.py)."""
    curves = [CurveKeys(mint=r.mint, pool=r.dbc_pool_key, config=r.dbc_config_key) for r in rows
              if r.mint in mints and r.status == "PRE_GRAD" and r.dbc_pool_key and r.dbc_config_key]
    progress = curves_progress(curves) if curves else {}
    for mint, pct in progress.items():
        LaunchWatch.objects.filter(mint=mint, state__in=LIVE).exclude(progress_pct=pct).update(progress_pct=pct)
    graduated = [r.mint for r in rows if r.mint in mints and r.status in ("MIGRATING", "MIGRATED")]
    if graduated:
        LaunchWatch.objects.filter(mint__in=graduated, state__in=LIVE).update(progress_pct=Decimal(100))
    return progress
