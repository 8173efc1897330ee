"""/vibe's records: conversations and their turns, every tool call, every proposed action, tokens per admin per day.

Admins are Telegram user ids (TELEGRAM_ADMIN_IDS), as everywhere else the bot authorizes operators.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    """An admin's conversation; `/vibe reset` ends it and the next question starts a new one."""

    admin_id = models.BigIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["admin_id"], condition=Q(ended_at__isnull=True), name="vibe_one_open_conversation"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.pk} of {self.admin_id}"


class Turn(models.Model):
    """One question and its answer (both as the provider saw them: redacted)."""

    class Status(models.TextChoices):
        ANSWERING = "answering"
        ANSWERED = "answered"
        FAILED = "failed"  # provider down, timeout: `answer` holds the sentence the admin read
        REFUSED = "refused"  # budget spent

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    admin_id = models.BigIntegerField()
    question = models.TextField()
    answer = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ANSWERING)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "id"], name="vibe_turn_conversation")]

    def __str__(self) -> str:
        return f"turn {self.pk} ({self.status})"


class ToolCall(models.Model):
    """A desk tool the model called: who (the admin the conversation belongs to), what, when, and whether it worked."""

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="tool_calls")
    admin_id = models.BigIntegerField()
    tool = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict, blank=True)
    ok = models.BooleanField(default=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.tool} for {self.admin_id}"


class Action(models.Model):
    """A change the model proposed. Nothing happens until the admin presses the button; then it is done once."""

    class Kind(models.TextChoices):
        KILL_SWITCH = "kill_switch"
        ORDER_RETRY = "order_retry"
        TRADER_PAUSE = "trader_pause"

    class Status(models.TextChoices):
        PROPOSED = "proposed"
        CONFIRMED = "confirmed"  # pressed; being carried out
        DONE = "done"
        FAILED = "failed"
        DISMISSED = "dismissed"
        EXPIRED = "expired"

    turn = models.ForeignKey(Turn, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions")
    admin_id = models.BigIntegerField(help_text="The admin it was proposed to; only that admin's button works.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    arguments = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    result = models.CharField(max_length=300, blank=True)
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.arguments} ({self.status})"


class TokenUsage(models.Model):
    """Provider tokens (input + output) an admin used on a UTC day: the daily budget counts these."""

    admin_id = models.BigIntegerField()
    day = models.DateField()
    tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["admin_id", "day"], name="vibe_usage_admin_day")]

    def __str__(self) -> str:
        return f"{self.admin_id} {self.day}: {self.tokens}"
