"""Trading services: every write of the trading core goes through one of these (keyword-only arguments)."""

from trading.execution.fills import position_apply_fill
from trading.services.accounts import trader_register, trading_settings_get, trading_settings_update
from trading.services.exits import exit_plan_update
from trading.services.orders import order_build, order_enqueue, order_execute, order_fail, order_transition
from trading.services.positions import (
    exit_order_create,
    exits_mark_claimed,
    order_retry,
    position_close,
    position_open,
    position_sell,
)
from trading.services.quotes import QuotePreview, quote_preview
from trading.services.risk import kill_switch_set
from trading.services.safety import token_safety_check
from trading.wallets import wallet_create, wallet_export, wallet_import

__all__ = [
    "QuotePreview",
    "exit_order_create",
    "exits_mark_claimed",
    "exit_plan_update",
    "kill_switch_set",
    "order_build",
    "order_enqueue",
    "order_execute",
    "order_fail",
    "order_retry",
    "order_transition",
    "position_apply_fill",
    "position_close",
    "position_open",
    "position_sell",
    "quote_preview",
    "token_safety_check",
    "trader_register",
    "trading_settings_get",
    "trading_settings_update",
    "wallet_create",
    "wallet_export",
    "wallet_import",
]
