"""Trading services: every write of the trading core goes through one of these (keyword-only arguments)."""

from trading.services.fills import position_apply_fill
from trading.services.orders import order_enqueue, order_execute, order_fail, order_transition

__all__ = [
    "order_enqueue",
    "order_execute",
    "order_fail",
    "order_transition",
    "position_apply_fill",
]
