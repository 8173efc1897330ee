"""Standing orders: limit orders (buy or sell at a price level, until an expiry) and DCA plans (buy an amount N times at
an interval). Neither is an order itself: when one fires it places an ordinary order through the trading services
(position_open / position_sell), so every check of a market order applies at that moment."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from trading.models.accounts import Trader
from trading.models.choices import PRICE_DIGITS, PRICE_PLACES, OrderSide
from trading.models.orders import Order
from trading.models.positions import Position, Token


class LimitOrder(models.Model):
    """Buy `amount_lamports` of `token`, or sell `percent` of `position`, once the price crosses `price`.

    `direction` says which way: "below" fires when the price falls to the level or under it (a dip buy, a stop sell),
    "above" when it rises to it or over it (a breakout buy, a take-profit sell). Active rows are in the same trigger
    index as the positions' exit triggers: one partial index per direction on (token, price), and one on the expiry.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PLACED = "placed", "Placed"  # it fired: `order` is the order it placed
        CANCELLED = "cancelled", "Cancelled"  # by the trader, or at trigger time by a check (`note` says which)
        EXPIRED = "expired", "Expired"

    class Direction(models.TextChoices):
        BELOW = "below", "At or below"
        ABOVE = "above", "At or above"

    trader = models.ForeignKey(Trader, on_delete=models.PROTECT, related_name="limit_orders")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="limit_orders")
    side = models.CharField(max_length=4, choices=[(v, label) for v, label in OrderSide.choices if v != OrderSide.WITHDRAW])
    direction = models.CharField(max_length=5, choices=Direction.choices)
    price = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES, help_text="SOL per whole token.")
    amount_lamports = models.BigIntegerField(null=True, blank=True, help_text="What a buy spends.")
    position = models.ForeignKey(Position, null=True, blank=True, on_delete=models.PROTECT, related_name="limit_orders",
                                 help_text="A sell: the position it sells from. A buy: the position it opened.")
    percent = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True,
                                  help_text="A sell: the share of what the position holds then.")
    exit_plan = models.JSONField(null=True, blank=True, help_text="A buy: the exit plan its position gets (None: default).")
    accepted_risks = models.JSONField(default=list, blank=True, help_text="Critical findings the trader accepted.")
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.ACTIVE)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="limit_orders")
    note = models.CharField(max_length=300, blank=True, help_text="Why it ended, when not by its own order.")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["token", "price"], condition=Q(status="active", direction="below"),
                         name="limit_active_below"),
            models.Index(fields=["token", "price"], condition=Q(status="active", direction="above"),
                         name="limit_active_above"),
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="limit_active_expiry"),
            models.Index(fields=["trader", "status"], name="limit_trader_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="limit_price_positive"),
            models.CheckConstraint(
                condition=Q(side="buy", amount_lamports__gt=0)
                | Q(side="sell", percent__gt=0, percent__lte=100, position__isnull=False),
                name="limit_side_fields",
            ),
        ]

    def __str__(self) -> str:
        return f"limit {self.side} #{self.pk} {self.direction} {self.price} ({self.status})"


class DcaPlan(models.Model):
    """Buy `amount_lamports` of `token` `buys_total` times, one buy every `interval_seconds`, until a stop condition:
    the price above `price_ceiling`, or the next buy taking `spent_lamports` past `spend_cap_lamports`."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"  # every buy made, or a stop condition met (`note` says which)

    trader = models.ForeignKey(Trader, on_delete=models.PROTECT, related_name="dca_plans")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="dca_plans")
    amount_lamports = models.BigIntegerField()
    buys_total = models.PositiveIntegerField()
    buys_done = models.PositiveIntegerField(default=0, help_text="Buys placed.")
    runs = models.PositiveIntegerField(default=0, help_text="Rounds run, a refused buy included.")
    interval_seconds = models.PositiveIntegerField()
    price_ceiling = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES, null=True, blank=True)
    spend_cap_lamports = models.BigIntegerField(null=True, blank=True)
    spent_lamports = models.BigIntegerField(default=0, help_text="SOL of the buys placed.")
    exit_plan = models.JSONField(null=True, blank=True)
    next_run_at = models.DateTimeField()
    state = models.CharField(max_length=9, choices=State.choices, default=State.ACTIVE)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["next_run_at"], condition=Q(state="active"), name="dca_active_due"),
            models.Index(fields=["trader", "state"], name="dca_trader_state"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_lamports__gt=0), name="dca_amount_positive"),
            models.CheckConstraint(condition=Q(buys_total__gt=0), name="dca_buys_positive"),
            models.CheckConstraint(condition=Q(buys_done__lte=models.F("buys_total")), name="dca_buys_within_total"),
            models.CheckConstraint(condition=Q(price_ceiling__gt=0), name="dca_ceiling_positive"),
            models.CheckConstraint(condition=Q(spend_cap_lamports__gt=0), name="dca_cap_positive"),
        ]

    def __str__(self) -> str:
        return f"DCA #{self.pk} {self.buys_done}/{self.buys_total} ({self.state})"


class DcaBuy(models.Model):
    """One round of a plan: the position its buy opened, or why the buy was refused. (plan, run) is unique: a round
    runs at most once."""

    plan = models.ForeignKey(DcaPlan, on_delete=models.CASCADE, related_name="buys")
    run = models.PositiveIntegerField()
    position = models.ForeignKey(Position, null=True, blank=True, on_delete=models.PROTECT, related_name="dca_buys")
    amount_lamports = models.BigIntegerField()
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["plan", "run"]
        constraints = [models.UniqueConstraint(fields=["plan", "run"], name="dca_buy_unique_run")]

    def __str__(self) -> str:
        return f"DCA #{self.plan_id} round {self.run}"


class LaunchWatch(models.Model):
    """A trader following a bags.fm launch (`mint`) through its launch states, told when it graduates (MIGRATED), with
    an optional buy of `amount_lamports` when it launches (PRE_GRAD) or when it graduates, refused above
    `price_ceiling`. A watch acts once: its buy and its graduation notice each move `state` forward by a
    compare-and-swap (watching -> launched -> done, or straight to done), so two followers racing act once."""

    class BuyOn(models.TextChoices):
        NONE = "none", "No buy"
        LAUNCH = "launch", "On launch"
        GRADUATION = "graduation", "On graduation"

    class State(models.TextChoices):
        WATCHING = "watching", "Watching"
        LAUNCHED = "launched", "Launched"  # a buy on launch was handled; the graduation notice is still to come
        DONE = "done", "Done"  # graduated and told (and a buy on graduation handled), or refused (`note`)
        CANCELLED = "cancelled", "Cancelled"

    trader = models.ForeignKey(Trader, on_delete=models.PROTECT, related_name="launch_watches")
    mint = models.CharField(max_length=44)
    symbol = models.CharField(max_length=16, blank=True)
    buy_on = models.CharField(max_length=10, choices=BuyOn.choices, default=BuyOn.NONE)
    amount_lamports = models.BigIntegerField(null=True, blank=True)
    price_ceiling = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES, null=True, blank=True)
    state = models.CharField(max_length=9, choices=State.choices, default=State.WATCHING)
    launch_status = models.CharField(max_length=10, blank=True, help_text="The last launch status bags.fm reported.")
    progress_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                                       help_text="How full its bonding curve was when last read (percent).")
    position = models.ForeignKey(Position, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["mint"], condition=Q(state__in=("watching", "launched")), name="launch_watch_live"),
            models.Index(fields=["trader", "state"], name="launch_watch_trader_state"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_lamports__gt=0), name="launch_watch_amount_positive"),
            models.CheckConstraint(condition=Q(price_ceiling__gt=0), name="launch_watch_ceiling_positive"),
            models.CheckConstraint(condition=Q(buy_on="none") | Q(amount_lamports__isnull=False),
                                   name="launch_watch_buy_has_amount"),
        ]

    def __str__(self) -> str:
        return f"launch watch #{self.pk} {self.mint[:8]} ({self.state})"
