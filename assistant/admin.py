"""/vibe's records in the admin: read-only (they are the record of who asked what, which tools ran, what was done)."""

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone

from assistant.models import Action, Conversation, TokenUsage, ToolCall, Turn


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnly):
    list_display = ("id", "admin_id", "started_at", "ended_at")
    list_filter = ("admin_id",)


@admin.register(Turn)
class TurnAdmin(ReadOnly):
    list_display = ("id", "admin_id", "status", "question", "input_tokens", "output_tokens", "created_at")
    list_filter = ("status", "admin_id")
    search_fields = ("question", "answer")


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnly):
    list_display = ("id", "admin_id", "tool", "arguments", "ok", "created_at")
    list_filter = ("tool", "ok", "admin_id")


@admin.register(Action)
class ActionAdmin(ReadOnly):
    list_display = ("id", "admin_id", "kind", "arguments", "state", "result", "proposed_at", "decided_at", "decided_by")
    list_filter = ("kind", "status", "admin_id")

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        """A proposal nobody pressed within its button's life reads as expired (its button no longer works)."""
        lapsed = timezone.now() - timedelta(seconds=settings.VIBE_ACTION_TTL_SECONDS)
        return "expired (never pressed)" if obj.status == Action.Status.PROPOSED and obj.proposed_at < lapsed else obj.status


@admin.register(TokenUsage)
class TokenUsageAdmin(ReadOnly):
    list_display = ("admin_id", "day", "tokens")
    list_filter = ("day",)
