"""Enumerations shared by the trading models and services."""

from django.db import models

# Prices are SOL per whole token; memecoins trade far below 1e-9 SOL, so keep plenty of places.
PRICE_DIGITS = 40
PRICE_PLACES = 20
LAMPORTS_PER_SOL = 1_000_000_000
SOL_MINT = "So11111111111111111111111111111111111111112"
SPL_TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"


class Mode(models.TextChoices):
    PAPER = "paper", "Paper"
    SANDBOX = "sandbox", "Sandbox"
    LIVE = "live", "Live"


class PositionStatus(models.TextChoices):
    OPENING = "opening", "Opening"
    OPEN = "open", "Open"
    CLOSING = "closing", "Closing"
    CLOSED = "closed", "Closed"
    FAILED = "failed", "Failed"


class OrderSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"
    WITHDRAW = "withdraw", "Withdraw"  # a transfer out of the wallet (SOL or a token) to an address


class OrderReason(models.TextChoices):
    MANUAL = "manual", "Manual"
    TP = "tp", "Take-profit"
    SL = "sl", "Stop-loss"
    TRAILING = "trailing", "Trailing stop"
    TIME = "time", "Time stop"
    KILL = "kill", "Kill switch"
    LIMIT = "limit", "Limit order"
    DCA = "dca", "DCA"
    LAUNCH = "launch", "Launch watch"


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUOTING = "quoting", "Quoting"
    SIGNED = "signed", "Signed"
    SUBMITTED = "submitted", "Submitted"
    CONFIRMED = "confirmed", "Confirmed"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


# An expired attempt is re-quoted as a new attempt of the same order, so only confirmed and failed end it.
ORDER_IN_FLIGHT = (
    OrderStatus.PENDING,
    OrderStatus.QUOTING,
    OrderStatus.SIGNED,
    OrderStatus.SUBMITTED,
    OrderStatus.EXPIRED,
)
ORDER_TERMINAL = (OrderStatus.CONFIRMED, OrderStatus.FAILED)
POSITION_LIVE = (PositionStatus.OPENING, PositionStatus.OPEN, PositionStatus.CLOSING)
