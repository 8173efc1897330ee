"""Risk limits (global defaults, per-trader overrides) and the kill switch (global and per trader).

Every check here runs before a service writes anything; callers hold the trader's row lock so two
concurrent buys cannot both squeeze under a limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from trading.errors import InvalidInput, KillSwitchOn, RiskLimitExceeded
from trading.models import KillSwitch, Trader
from trading.models.choices import LAMPORTS_PER_SOL
from trading.services.book import trader_book

# Conservative defaults used where neither the global row nor the trader's row sets a limit.
DEFAULT_LIMITS = {
    "max_trade_lamports": 1 * LAMPORTS_PER_SOL,
    "max_open_positions": 5,
    "daily_loss_limit_lamports": 2 * LAMPORTS_PER_SOL,
    "daily_volume_cap_lamports": 10 * LAMPORTS_PER_SOL,
}


@dataclass(frozen=True)
class Limits:
    max_trade_lamports: int
    max_open_positions: int
    daily_loss_limit_lamports: int
    daily_volume_cap_lamports: int


def _sol(lamports: int) -> str:
    text = f"{lamports / LAMPORTS_PER_SOL:.4f}".rstrip("0").rstrip(".")
    return f"{text} SOL"


def risk_limits_effective(*, trader: Trader, book: dict | None = None) -> Limits:
    """The trader's own limit where set, else the global row's, else the conservative default."""
    book = book if book is not None else trader_book(trader=trader)[1]
    values = {}
    for field, default in DEFAULT_LIMITS.items():
        own, glob = book[f"own_{field}"], book[f"global_{field}"]
        values[field] = own if own is not None else glob if glob is not None else default
    return Limits(**values)


def kill_switch_engaged(*, trader: Trader | None) -> KillSwitch | None:
    """The engaged switch that stops this trader's entries (global first), or None."""
    scope = Q(trader__isnull=True) | Q(trader=trader) if trader is not None else Q(trader__isnull=True)
    return KillSwitch.objects.filter(scope, enabled=True).order_by("-trader_id").last()


def kill_switch_set(*, enabled: bool, trader: Trader | None = None, actor: str, reason: str = "") -> KillSwitch:
    """Turn the global (trader=None) or a trader's kill switch on or off. It stops new entries at once."""
    if not isinstance(enabled, bool):
        raise InvalidInput("The kill switch is either on or off.", "invalid_kill_switch")
    if not actor or not str(actor).strip():
        raise InvalidInput("Say who is changing the kill switch.", "actor_required")
    with transaction.atomic():
        switch, _ = KillSwitch.objects.select_for_update().get_or_create(trader=trader)
        switch.enabled = enabled
        switch.changed_by = str(actor)[:120]
        switch.reason = str(reason)[:500]
        switch.save()
    return switch


def risk_check_entry(*, trader: Trader, amount_lamports: int, book: dict | None = None) -> None:
    """Refuse a new entry the kill switch or a risk limit forbids. Reads only (`book`: trader_book's, if at hand)."""
    book = book if book is not None else trader_book(trader=trader)[1]
    if book["is_paused"]:
        raise KillSwitchOn("Your trading is paused by the operator; new buys are refused.", "trader_paused")
    if book["kill_global"] or book["kill_trader"]:
        scope = "for everyone" if book["kill_global"] else "for your account"
        raise KillSwitchOn(f"Trading is stopped {scope} by the kill switch; new buys are refused.", "kill_switch_on")
    limits = risk_limits_effective(trader=trader, book=book)
    if amount_lamports > limits.max_trade_lamports:
        raise RiskLimitExceeded(
            f"A buy of {_sol(amount_lamports)} is over your limit of {_sol(limits.max_trade_lamports)} per trade.",
            "max_trade",
        )
    if book["live_count"] >= limits.max_open_positions:
        raise RiskLimitExceeded(
            f"You already hold {book['live_count']} open positions, your limit; close one before buying.",
            "max_open_positions",
        )
    if book["volume_today"] + amount_lamports > limits.daily_volume_cap_lamports:
        raise RiskLimitExceeded(
            f"This buy would take today's volume past your daily cap of {_sol(limits.daily_volume_cap_lamports)}.",
            "daily_volume_cap",
        )
    if -book["realised_today"] >= limits.daily_loss_limit_lamports:
        raise RiskLimitExceeded(
            f"You have lost {_sol(-book['realised_today'])} today, your daily loss limit; buying resumes tomorrow (UTC).",
            "daily_loss_limit",
        )
