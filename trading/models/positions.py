"""Tokens, positions and the exit plan every position carries from the moment it exists."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from trading.models.accounts import Trader, Wallet
from trading.models.choices import PRICE_DIGITS, PRICE_PLACES, SPL_TOKEN_PROGRAM, Mode, PositionStatus


def _price(**kwargs):
    return models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES, **kwargs)


class Token(models.Model):
    mint = models.CharField(max_length=44, unique=True)
    symbol = models.CharField(max_length=32, blank=True)
    name = models.CharField(max_length=120, blank=True)
    decimals = models.PositiveSmallIntegerField()
    token_program = models.CharField(max_length=44, default=SPL_TOKEN_PROGRAM)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(decimals__lte=18), name="token_decimals_range")]

    def __str__(self) -> str:
        return self.symbol or self.mint


class Position(models.Model):
    """What a trader holds of one token in one mode. Sizes in token base units, money in lamports."""

    trader = models.ForeignKey(Trader, on_delete=models.PROTECT, related_name="positions")
    wallet = models.ForeignKey(Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="positions")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="positions")
    mode = models.CharField(max_length=8, choices=Mode.choices)
    status = models.CharField(max_length=8, choices=PositionStatus.choices, default=PositionStatus.OPENING)
    size = models.BigIntegerField(default=0, help_text="Token base units held now.")
    original_size = models.BigIntegerField(default=0, help_text="Token base units bought.")
    cost_lamports = models.BigIntegerField(default=0, help_text="Cost basis of what is held now (reserved while opening).")
    entry_price = _price(null=True, blank=True, help_text="SOL per whole token, fees included.")
    realised_pnl_lamports = models.BigIntegerField(default=0)
    proceeds_lamports = models.BigIntegerField(default=0, help_text="SOL received from sells, net of fees.")
    fees_lamports = models.BigIntegerField(default=0)
    rent_lamports = models.BigIntegerField(
        default=0, help_text="Token account rent its orders paid, less what they got back (a deposit, not a cost).",
    )
    peak_price = _price(null=True, blank=True)
    # Denormalised next trigger prices of the exit plan (meaning owned by trading.tpsl); indexed with the token so
    # "which open positions of this mint trigger at price p" is an index lookup.
    stop_price = _price(null=True, blank=True)
    take_profit_price = _price(null=True, blank=True)
    trailing_stop_price = _price(null=True, blank=True)
    time_stop_at = models.DateTimeField(null=True, blank=True)
    # Trailing stop inputs denormalised by trading.tpsl so the per-tick peak update is one SQL statement.
    trailing_activation_price = _price(null=True, blank=True)
    trailing_factor = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    exit_stuck_at = models.DateTimeField(null=True, blank=True, help_text="Set when automatic exits keep failing.")
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("close_position", "Can close a position (sell everything) from the admin")]
        indexes = [
            models.Index(fields=["trader", "status"], name="position_trader_status"),
            models.Index(fields=["token", "stop_price"], condition=Q(status="open"), name="position_open_stop"),
            models.Index(fields=["token", "take_profit_price"], condition=Q(status="open"), name="position_open_tp"),
            models.Index(fields=["token", "trailing_stop_price"], condition=Q(status="open"), name="position_open_trail"),
            models.Index(fields=["time_stop_at"], condition=Q(status="open"), name="position_open_time_stop"),
            models.Index(
                fields=["token", "peak_price"],
                condition=Q(status="open", trailing_factor__isnull=False),
                name="position_open_trailing_peak",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(size__gte=0), name="position_size_non_negative"),
            models.CheckConstraint(condition=Q(original_size__gte=0), name="position_original_size_non_negative"),
            models.CheckConstraint(condition=Q(cost_lamports__gte=0), name="position_cost_non_negative"),
            models.CheckConstraint(condition=Q(proceeds_lamports__gte=0), name="position_proceeds_non_negative"),
            models.CheckConstraint(condition=Q(fees_lamports__gte=0), name="position_fees_non_negative"),
            models.CheckConstraint(condition=Q(size__lte=models.F("original_size")), name="position_size_within_original"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.token} ({self.status})"


class ExitPlan(models.Model):
    """The plan a position exits by. `spec` is trading.tpsl.plans' JSON; the columns mirror it for queries."""

    position = models.OneToOneField(Position, on_delete=models.CASCADE, related_name="exit_plan")
    preset = models.CharField(max_length=32, blank=True)
    spec = models.JSONField()
    stop_loss_pct = models.DecimalField(max_digits=9, decimal_places=4)
    trailing_activation_pct = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    trailing_distance_pct = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    breakeven_after_first_tp = models.BooleanField(default=False)
    max_hold_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"exit plan of position #{self.position_id}"


class ExitLeg(models.Model):
    """One take-profit leg: sell `fraction` of the original size when price reaches entry x `trigger_multiple`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed"
        FILLED = "filled", "Filled"

    plan = models.ForeignKey(ExitPlan, on_delete=models.CASCADE, related_name="legs")
    index = models.PositiveSmallIntegerField()
    trigger_multiple = models.DecimalField(max_digits=12, decimal_places=4)
    fraction = models.DecimalField(max_digits=5, decimal_places=4)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    filled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "index"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "index"], name="exit_leg_unique_index"),
            models.CheckConstraint(condition=Q(fraction__gt=0, fraction__lte=1), name="exit_leg_fraction_range"),
            models.CheckConstraint(condition=Q(trigger_multiple__gt=1), name="exit_leg_trigger_above_entry"),
        ]

    def __str__(self) -> str:
        return f"TP{self.index + 1} x{self.trigger_multiple} sell {self.fraction:%}"
