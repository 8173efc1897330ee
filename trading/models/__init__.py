"""Trading models: money lives here. Amounts are integers (lamports, token base units); prices are Decimal."""

from trading.models.accounts import KillSwitch, RiskLimits, SecondFactor, Trader, TradingSettings, Wallet, WithdrawAddress
from trading.models.choices import Mode, OrderReason, OrderSide, OrderStatus, PositionStatus
from trading.models.events import DomainEvent
from trading.models.ledger import PaperLedger
from trading.models.orders import Order
from trading.models.positions import ExitLeg, ExitPlan, Position, Token
from trading.models.standing import DcaBuy, DcaPlan, LaunchWatch, LimitOrder

__all__ = [
    "DcaBuy",
    "DcaPlan",
    "DomainEvent",
    "ExitLeg",
    "ExitPlan",
    "KillSwitch",
    "LaunchWatch",
    "LimitOrder",
    "Mode",
    "Order",
    "OrderReason",
    "OrderSide",
    "OrderStatus",
    "PaperLedger",
    "Position",
    "PositionStatus",
    "RiskLimits",
    "SecondFactor",
    "Token",
    "Trader",
    "TradingSettings",
    "Wallet",
    "WithdrawAddress",
]
