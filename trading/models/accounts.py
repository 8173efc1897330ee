"""Traders, their wallets, settings, risk limits and kill switches."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

from trading.keys import wallet_keypair
from trading.models.choices import Mode


class Trader(models.Model):
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)
    is_paused = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Wallet(models.Model):
    """A custodial wallet. The secret key is only ever held encrypted (AES-GCM, see trading.keys)."""

    trader = models.ForeignKey(Trader, on_delete=models.PROTECT, related_name="wallets")
    public_key = models.CharField(max_length=44, unique=True)
    encrypted_secret = models.BinaryField(editable=False)
    key_id = models.CharField(max_length=32, db_index=True)
    name = models.CharField(max_length=32, blank=True, default="")
    active = models.BooleanField(default=False, help_text="The wallet new buys use; at most one per trader.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["trader"], condition=Q(active=True), name="one_active_wallet_per_trader"),
        ]

    def __str__(self) -> str:
        return self.public_key

    def __repr__(self) -> str:
        return f"<Wallet {self.pk} {self.public_key} key={self.key_id}>"

    def keypair(self):
        """The solders Keypair, decrypted in memory only. Never log or store what this returns."""
        return wallet_keypair(self)


class SecondFactor(models.Model):
    """A trader's TOTP second factor. The secret is held encrypted like a wallet key (trading.keys); recovery codes
    only as salted hashes. Enabled once `confirmed_at` is set (the trader typed a current code)."""

    trader = models.OneToOneField(Trader, on_delete=models.CASCADE, related_name="second_factor")
    encrypted_secret = models.BinaryField(editable=False)
    key_id = models.CharField(max_length=32)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0, help_text="The last TOTP time step used: a code works once.")
    recovery_hashes = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"second factor of {self.trader} ({'on' if self.confirmed_at else 'setting up'})"

    def __repr__(self) -> str:
        return f"<SecondFactor {self.pk} trader={self.trader_id} key={self.key_id}>"


class TradingSettings(models.Model):
    class PriorityFee(models.TextChoices):
        AUTO = "auto", "Auto (recent fees)"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class RiskyTokens(models.TextChoices):
        # What a buy does with a token whose safety card has a critical finding (trading/safety.py)
        CONFIRM = "confirm", "Ask for a second confirmation"
        REFUSE_FREEZE = "freeze", "Refuse a freeze authority, ask about the rest"
        REFUSE = "refuse", "Refuse every critical finding"

    trader = models.OneToOneField(Trader, on_delete=models.CASCADE, related_name="settings")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    buy_slippage_bps = models.PositiveIntegerField(default=300)
    sell_slippage_bps = models.PositiveIntegerField(default=500)
    priority_fee_policy = models.CharField(max_length=8, choices=PriorityFee.choices, default=PriorityFee.AUTO)
    priority_fee_max_lamports = models.PositiveBigIntegerField(default=1_000_000)
    mev_protection = models.BooleanField(default=False, help_text="Send swaps as a tipped bundle (bags.fm send-bundle).")
    default_exit_plan = models.JSONField(default=dict, blank=True, help_text="Exit plan spec (trading.tpsl.plans JSON).")
    buy_presets_lamports = models.JSONField(default=list, blank=True)
    notifications = models.JSONField(default=dict, blank=True)
    risky_tokens = models.CharField(max_length=8, choices=RiskyTokens.choices, default=RiskyTokens.REFUSE_FREEZE)
    withdraw_daily_cap_lamports = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="SOL (SOL worth of tokens) a trader may withdraw per UTC day; empty: the desk's "
        "default (WITHDRAW_DAILY_CAP_LAMPORTS).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "trading settings"
        constraints = [
            models.CheckConstraint(condition=Q(buy_slippage_bps__lte=10_000), name="settings_buy_slippage_bps_range"),
            models.CheckConstraint(condition=Q(sell_slippage_bps__lte=10_000), name="settings_sell_slippage_bps_range"),
        ]

    def __str__(self) -> str:
        return f"settings of {self.trader}"


class WithdrawAddress(models.Model):
    """An address on a trader's withdrawal allow-list. While the list has any address, withdrawals go only to listed
    addresses whose cool-down (`usable_at`) has passed."""

    trader = models.ForeignKey(Trader, on_delete=models.CASCADE, related_name="withdraw_addresses")
    address = models.CharField(max_length=44)
    label = models.CharField(max_length=32, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)
    usable_at = models.DateTimeField(help_text="When the address may first receive (added_at + the cool-down).")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["trader", "address"], name="withdraw_address_once_per_trader")]

    def __str__(self) -> str:
        return f"{self.address} ({self.trader})"


class RiskLimits(models.Model):
    """The global row (trader NULL) holds the defaults; a trader's row overrides the fields it sets."""

    trader = models.OneToOneField(Trader, null=True, blank=True, on_delete=models.CASCADE, related_name="risk_limits")
    max_trade_lamports = models.PositiveBigIntegerField(null=True, blank=True, help_text="Max SOL per trade, in lamports.")
    max_open_positions = models.PositiveIntegerField(null=True, blank=True)
    daily_loss_limit_lamports = models.PositiveBigIntegerField(null=True, blank=True)
    daily_volume_cap_lamports = models.PositiveBigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "risk limits"
        constraints = [
            # NULLs are distinct in a plain unique index; coalescing makes the global row a singleton.
            models.UniqueConstraint(Coalesce("trader", 0), name="one_risk_limits_per_scope"),
        ]

    def __str__(self) -> str:
        return f"risk limits of {self.trader}" if self.trader_id else "global risk limits"


class KillSwitch(models.Model):
    """The global row (trader NULL) stops every new entry; a trader's row stops that trader's."""

    trader = models.OneToOneField(Trader, null=True, blank=True, on_delete=models.CASCADE, related_name="kill_switch")
    enabled = models.BooleanField(default=False)
    changed_by = models.CharField(max_length=120, blank=True)
    changed_at = models.DateTimeField(auto_now=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name_plural = "kill switches"
        constraints = [
            models.UniqueConstraint(Coalesce("trader", 0), name="one_kill_switch_per_scope"),
        ]

    def __str__(self) -> str:
        scope = str(self.trader) if self.trader_id else "global"
        return f"kill switch ({scope}): {'ON' if self.enabled else 'off'}"
