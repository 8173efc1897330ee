"""Orders: one row per intended swap, driven through its states by compare-and-swap updates."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from trading.models.choices import (
    ORDER_IN_FLIGHT,
    PRICE_DIGITS,
    PRICE_PLACES,
    Mode,
    OrderReason,
    OrderSide,
    OrderStatus,
)
from trading.models.accounts import Trader, Wallet
from trading.models.positions import ExitLeg, Position


class Order(models.Model):
    # Every swap has its position; a withdrawal of a token has the position it takes from, a withdrawal of SOL none.
    position = models.ForeignKey(Position, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    # The position's trader, copied so today's volume and losses are an index range, not a join over all history.
    trader = models.ForeignKey(Trader, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=8, choices=OrderSide.choices)
    reason = models.CharField(max_length=8, choices=OrderReason.choices, default=OrderReason.MANUAL)
    leg = models.ForeignKey(ExitLeg, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    mode = models.CharField(max_length=8, choices=Mode.choices)
    venue = models.CharField(max_length=16, blank=True, help_text="paper, bags or jupiter once chosen.")
    client_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=9, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    # amount_in is lamports for a buy and token base units for a sell; amount_out the other way round.
    amount_in = models.BigIntegerField()
    amount_out_expected = models.BigIntegerField(null=True, blank=True)
    min_amount_out = models.BigIntegerField(null=True, blank=True)
    amount_out_actual = models.BigIntegerField(null=True, blank=True)
    fill_price = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES, null=True, blank=True)
    fee_lamports = models.BigIntegerField(default=0)
    rent_lamports = models.BigIntegerField(
        default=0, help_text="Token account rent: paid into an account the swap created (+), returned by one it closed (-).",
    )
    realised_pnl_lamports = models.BigIntegerField(null=True, blank=True, help_text="Set on a confirmed sell.")
    slippage_bps = models.PositiveIntegerField(default=300)
    priority_fee_lamports = models.BigIntegerField(default=0)  # the trader's cap for this order's priority fee
    # The trader's fee policy (auto, low, medium, high) and MEV protection when the order was placed; the
    # micro-lamports per compute unit its signed transaction carries (recorded with the signature, before the send).
    priority_fee_policy = models.CharField(max_length=8, default="auto")
    compute_unit_price = models.BigIntegerField(null=True, blank=True, help_text="Micro-lamports per compute unit.")
    mev_protection = models.BooleanField(default=False)
    # A protected order goes as a bundle (swap + tip transfer): its id (the SHA-256 of its signatures, known before
    # it is sent), the signed tip transaction, and the tip, all persisted before the bundle is sent.
    bundle_id = models.CharField(max_length=64, blank=True)
    tip_tx = models.BinaryField(null=True, blank=True)
    tip_lamports = models.BigIntegerField(default=0)
    signature = models.CharField(max_length=100, blank=True, db_index=True)
    signed_tx = models.BinaryField(null=True, blank=True)
    last_valid_block_height = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A withdrawal: the wallet it leaves (None on paper), the address it goes to, and what it was worth in SOL when
    # asked for (counted against the trader's daily withdrawal cap).
    wallet = models.ForeignKey(Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="withdrawals")
    destination = models.CharField(max_length=44, blank=True)
    value_lamports = models.BigIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("retry_order", "Can retry a failed order from the admin")]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="order_status_updated"),
            models.Index(fields=["trader", "created_at"], name="order_trader_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["position"],
                condition=Q(side=OrderSide.SELL, status__in=ORDER_IN_FLIGHT),
                name="one_inflight_exit_per_position",
            ),
            models.CheckConstraint(condition=Q(amount_in__gt=0), name="order_amount_in_positive"),
            models.CheckConstraint(
                condition=Q(side=OrderSide.WITHDRAW, destination__gt="") | (~Q(side=OrderSide.WITHDRAW) & Q(position__isnull=False)),
                name="order_withdrawal_has_destination_swap_has_position",
            ),
            models.CheckConstraint(condition=Q(amount_out_expected__gte=0), name="order_amount_out_expected_non_negative"),
            models.CheckConstraint(condition=Q(min_amount_out__gte=0), name="order_min_amount_out_non_negative"),
            models.CheckConstraint(condition=Q(amount_out_actual__gte=0), name="order_amount_out_actual_non_negative"),
            models.CheckConstraint(condition=Q(fee_lamports__gte=0), name="order_fee_non_negative"),
            models.CheckConstraint(condition=Q(priority_fee_lamports__gte=0), name="order_priority_fee_non_negative"),
            models.CheckConstraint(condition=Q(slippage_bps__lte=10_000), name="order_slippage_bps_range"),
        ]

    def __str__(self) -> str:
        return f"{self.side} #{self.pk} ({self.status})"

    def __repr__(self) -> str:
        return f"<Order {self.pk} {self.side} {self.status} client={self.client_id}>"
