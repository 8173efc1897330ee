"""Telegram in the admin, read-only: accounts, blocked chats, the outbox (what was sent, what is stuck), inbound
webhook updates and conversation states. Raw update payloads and conversation data are not shown: a user may
have pasted a private key into the chat (the bot deletes that message; the admin never displays it)."""

from django.contrib import admin

from telegram_app.models import BlockedChat, ConversationState, InboundUpdate, MintRef, OutboxMessage, TelegramAccount
from trading.admin.common import ReadOnlyAdmin


@admin.register(TelegramAccount)
class TelegramAccountAdmin(ReadOnlyAdmin):
    list_display = ("telegram_user_id", "username", "first_name", "trader", "created_at", "last_seen_at")
    search_fields = ("=telegram_user_id", "username", "first_name", "trader__name")
    list_select_related = ("trader",)
    date_hierarchy = "created_at"


@admin.register(BlockedChat)
class BlockedChatAdmin(ReadOnlyAdmin):
    list_display = ("chat_id", "reason", "created_at")
    search_fields = ("=chat_id", "reason")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "chat_id", "kind", "status", "attempts", "short_text", "error", "created_at", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("=chat_id", "dedupe_key", "error")
    date_hierarchy = "created_at"
    exclude = ("reply_markup",)

    @admin.display(description="text")
    def short_text(self, message: OutboxMessage) -> str:
        return message.text[:80]


@admin.register(InboundUpdate)
class InboundUpdateAdmin(ReadOnlyAdmin):
    list_display = ("update_id", "received_at", "processed_at", "attempts")
    list_filter = (("processed_at", admin.EmptyFieldListFilter),)
    search_fields = ("=update_id",)
    fields = ("update_id", "received_at", "processed_at", "attempts")
    readonly_fields = fields
    date_hierarchy = "received_at"


@admin.register(ConversationState)
class ConversationStateAdmin(ReadOnlyAdmin):
    list_display = ("telegram_user_id", "state", "updated_at")
    list_filter = ("state",)
    search_fields = ("=telegram_user_id",)
    fields = ("telegram_user_id", "state", "updated_at")
    readonly_fields = fields


@admin.register(MintRef)
class MintRefAdmin(ReadOnlyAdmin):
    list_display = ("id", "mint", "created_at")
    search_fields = ("mint",)
