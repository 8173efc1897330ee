"""Traders and their settings."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import transaction

from trading.errors import InvalidInput
from trading.models import Mode, PaperLedger, Trader, TradingSettings
from trading.services.amounts import amount_validate, slippage_validate
from trading.services.exits import exit_spec_resolve
from trading.tpsl.plans import spec_to_json

DEFAULT_BUY_PRESETS = [100_000_000, 250_000_000, 500_000_000, 1_000_000_000]


def modes_allowed() -> tuple[str, ...]:
    """Paper is always allowed; the deployment's TRADING_MODE adds sandbox or live (never both)."""
    deployment = django_settings.TRADING_MODE
    return (Mode.PAPER,) if deployment == Mode.PAPER else (Mode.PAPER, deployment)


def trader_register(*, name: str) -> Trader:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("A trader needs a name of 1 to 120 characters.", "invalid_name")
    with transaction.atomic():
        trader = Trader.objects.create(name=name)
        TradingSettings.objects.create(trader=trader, buy_presets_lamports=list(DEFAULT_BUY_PRESETS))
        PaperLedger.objects.create(trader=trader, start_balance_lamports=django_settings.PAPER_START_BALANCE_LAMPORTS)
    return trader


def trader_pause_set(*, trader_ids: list[int], paused: bool) -> int:
    """Pause (new buys refused, exits keep running) or resume traders; returns how many changed."""
    if not isinstance(paused, bool):
        raise InvalidInput("A trader is either paused or not.", "invalid_pause")
    return Trader.objects.filter(id__in=list(trader_ids)).exclude(is_paused=paused).update(is_paused=paused)


def trading_settings_get(*, trader: Trader) -> TradingSettings:
    settings_row, _ = TradingSettings.objects.get_or_create(
        trader=trader, defaults={"buy_presets_lamports": list(DEFAULT_BUY_PRESETS)}
    )
    return settings_row


def _validate(field: str, value):
    if field == "mode":
        if value not in modes_allowed():
            allowed = " or ".join(modes_allowed())
            raise InvalidInput(f"This desk trades in {allowed} mode only.", "mode_not_allowed")
        return value
    if field in ("buy_slippage_bps", "sell_slippage_bps"):
        return slippage_validate(value)
    if field == "priority_fee_policy":
        if value not in TradingSettings.PriorityFee.values:
            raise InvalidInput("The priority fee is one of auto, low, medium or high.", "invalid_priority_fee")
        return value
    if field == "priority_fee_max_lamports":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000_000:
            raise InvalidInput("The priority fee cap must be between 0 and 0.1 SOL.", "invalid_priority_fee")
        return value
    if field == "mev_protection":
        if not isinstance(value, bool):
            raise InvalidInput("MEV protection is on or off.", "invalid_mev_protection")
        return value
    if field == "default_exit_plan":
        if value in (None, "", {}):
            return {}  # no default of one's own: the balanced preset
        return spec_to_json(exit_spec_resolve(spec=value, default=None))
    if field == "buy_presets_lamports":
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 8:
            raise InvalidInput("Give between one and eight buy presets.", "invalid_presets")
        return [amount_validate(v) for v in value]
    if field == "risky_tokens":
        if value not in TradingSettings.RiskyTokens.values:
            raise InvalidInput("Risky tokens are confirmed, refused when freezable, or refused.", "invalid_risky_tokens")
        return value
    if field == "notifications":
        if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
            raise InvalidInput("Notification settings are switches that are on or off.", "invalid_notifications")
        return value
    raise InvalidInput(f"There is no setting called {field!r}.", "unknown_setting")


def settings_changes_validate(changes: dict) -> dict:
    """The cleaned values of `changes`, or InvalidInput for the first bad one."""
    return {field: _validate(field, value) for field, value in changes.items()}


def trading_settings_update(*, trader: Trader, **changes) -> TradingSettings:
    """Validate every change first; apply all of them or none."""
    cleaned = settings_changes_validate(changes)
    with transaction.atomic():
        row = trading_settings_get(trader=trader)
        row = TradingSettings.objects.select_for_update().get(pk=row.pk)
        for field, value in cleaned.items():
            setattr(row, field, value)
        row.save()
    return row
