"""Telegram's face of the desk: accounts, the outbox, inbound webhook updates, conversation state."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class TelegramAccount(models.Model):
    """One Telegram user (by numeric id, never username) and the trader it acts as."""

    telegram_user_id = models.BigIntegerField(unique=True)
    chat_id = models.BigIntegerField(help_text="Private chat with the bot (equals the user id).")
    trader = models.OneToOneField("trading.Trader", on_delete=models.PROTECT, related_name="telegram_account")
    username = models.CharField(max_length=64, blank=True, help_text="Display only; never used for authorization.")
    first_name = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"tg:{self.telegram_user_id}"


class BlockedChat(models.Model):
    """A chat the Bot API refused permanently (blocked, not found, deactivated): nothing more is sent to it."""

    chat_id = models.BigIntegerField(unique=True)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.chat_id}: {self.reason}"


class OutboxMessage(models.Model):
    """A message written before it is sent. The `telegram_app.send_message` task (or, behind a backlog, the
    `telegram_app.outbox_pump`) moves it through its states."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"  # permanent error or retries exhausted; `error` says why
        DROPPED = "dropped"  # the chat is blocked

    chat_id = models.BigIntegerField()
    kind = models.CharField(max_length=32, default="notification")
    text = models.TextField()
    reply_markup = models.JSONField(null=True, blank=True)
    parse_mode = models.CharField(max_length=16, blank=True)
    dedupe_key = models.CharField(max_length=120, unique=True, null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Not sent again before this time (a retry's backoff).")
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"], name="outbox_status_created"),
            # A chat's messages go in order: the sender looks for an earlier one still waiting.
            models.Index(fields=["chat_id", "id"], condition=Q(status__in=["pending", "sending"]), name="outbox_chat_waiting"),
        ]

    def __str__(self) -> str:
        return f"outbox {self.pk} -> {self.chat_id} ({self.status})"


class InboundUpdate(models.Model):
    """An update received by the webhook: stored before the 200, processed by the bot, deduplicated by update_id."""

    update_id = models.BigIntegerField(unique=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["update_id"], condition=models.Q(processed_at__isnull=True), name="inbound_unprocessed"),
        ]


class ConversationState(models.Model):
    """What the bot is waiting for from a user (a custom amount, a key to import...): survives restarts."""

    telegram_user_id = models.BigIntegerField(unique=True)
    state = models.CharField(max_length=32, blank=True)
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class MintRef(models.Model):
    """A short number for a mint address, so buttons fit Telegram's 64-byte callback data."""

    mint = models.CharField(max_length=44, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
