from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q


class Heartbeat(models.Model):
    """The last sign of life of one component (a worker queue, beat, the bot, the price feed)."""

    component = models.CharField(max_length=64, unique=True)
    last_seen = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["component"]

    def __str__(self) -> str:
        return f"{self.component} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"


class UptimeMinute(models.Model):
    """Whether a component was up during one UTC minute (recorded by `monitoring.record_uptime`)."""

    component = models.CharField(max_length=64)
    minute = models.DateTimeField(help_text="Start of the UTC minute.")
    up = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["component", "minute"], name="uptime_one_row_per_minute")]
        indexes = [models.Index(fields=["minute"], name="uptime_minute_idx")]
        ordering = ["-minute", "component"]

    def __str__(self) -> str:
        return f"{self.component} {self.minute:%Y-%m-%d %H:%M} {'up' if self.up else 'down'}"


class AlertRule(models.Model):
    """An alert condition an operator edits in the admin. `metric` names one of monitoring.alerts.METRICS."""

    name = models.CharField(max_length=100, unique=True)
    metric = models.CharField(max_length=32, help_text="component_down, prices_stale, exit_failures, error_rate, "
                              "queue_backlog, worker_memory or budget_spent.")
    target = models.CharField(max_length=64, blank=True, help_text="A component, queue or provider; empty means all.")
    threshold = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    window_minutes = models.PositiveIntegerField(default=15, help_text="Look-back for counted metrics.")
    cooldown_minutes = models.PositiveIntegerField(default=30, help_text="No new event for the same target sooner.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertEvent(models.Model):
    class State(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    target = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.FIRING)
    value = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    message = models.CharField(max_length=300, help_text="One plain sentence, ready to send to admins (the latest cause).")
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1, help_text="How many times the cause was reported while open.")
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="When the cause was last reported.")

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "target"], condition=Q(state="firing"), name="alert_one_firing_per_target")
        ]
        indexes = [models.Index(fields=["rule", "target", "-started_at"], name="alert_rule_target_idx")]

    def __str__(self) -> str:
        return f"{self.rule} [{self.target}] {self.state}"

    def text(self) -> str:
        """What a notifier sends: the sentence, prefixed by the state (and how often it came, once more than once)."""
        if self.state == self.State.RESOLVED:
            return f"Resolved: {self.message}"
        times = f" ({self.count} times since {self.started_at:%Y-%m-%d %H:%M} UTC)" if self.count > 1 else ""
        return f"Alert ({self.rule.name}): {self.message}{times}"


class AlertOccurrence(models.Model):
    """Each time an open alert's cause was reported: the history behind an event's latest message and count."""

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="occurrences")
    at = models.DateTimeField()
    message = models.CharField(max_length=300)
    value = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["event", "at", "id"]

    def __str__(self) -> str:
        return f"{self.event_id} @ {self.at:%Y-%m-%d %H:%M:%S}: {self.message[:60]}"


class ProviderBudget(models.Model):
    """Monthly spending limit for one external provider. Costs are integer micro-dollars (1 USD = 1,000,000)."""

    provider = models.CharField(max_length=32, unique=True)
    cost_per_call_micro_usd = models.PositiveBigIntegerField(default=0)
    monthly_budget_micro_usd = models.PositiveBigIntegerField(help_text="0 means no limit.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider"]

    def __str__(self) -> str:
        return self.provider


class ProviderUsageDay(models.Model):
    """Calls and estimated cost per provider and UTC day (synced from the Redis counters)."""

    provider = models.CharField(max_length=32)
    day = models.DateField()
    calls = models.PositiveBigIntegerField(default=0)
    refused = models.PositiveBigIntegerField(default=0)
    cost_micro_usd = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "provider"]
        constraints = [models.UniqueConstraint(fields=["provider", "day"], name="usage_one_row_per_provider_day")]

    def __str__(self) -> str:
        return f"{self.provider} {self.day}: {self.calls} calls"
