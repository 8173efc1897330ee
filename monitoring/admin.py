from django import forms
from django.contrib import admin

from monitoring.alerts import rule_problems
from monitoring.budgets import budget_cache_clear
from monitoring.models import AlertEvent, AlertOccurrence, AlertRule, Heartbeat, ProviderBudget, ProviderUsageDay, UptimeMinute


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        problems = rule_problems(metric=cleaned.get("metric") or "", threshold=cleaned.get("threshold"),
                                 target=cleaned.get("target") or "", window_minutes=cleaned.get("window_minutes"))
        for field, reason in problems.items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, reason)
        return cleaned


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    """Rules are validated by monitoring.alerts.rule_problems (unknown metric, threshold out of range): the form
    shows the reason."""

    form = AlertRuleForm
    list_display = ("name", "metric", "target", "threshold", "window_minutes", "cooldown_minutes", "enabled")
    list_filter = ("metric", "enabled")
    list_editable = ("enabled",)
    search_fields = ("name", "target")


class AlertOccurrenceInline(admin.TabularInline):
    """Every report of the event's cause, oldest first: the history behind its latest message."""

    model = AlertOccurrence
    fields = ("at", "message", "value")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "rule", "target", "state", "count", "value", "message", "last_seen_at", "resolved_at")
    inlines = [AlertOccurrenceInline]
    list_filter = ("state", "rule")
    search_fields = ("target", "message")
    date_hierarchy = "started_at"


@admin.register(AlertOccurrence)
class AlertOccurrenceAdmin(ReadOnlyAdmin):
    list_display = ("at", "event", "message", "value")
    list_select_related = ("event__rule",)
    search_fields = ("message", "event__target")
    date_hierarchy = "at"


@admin.register(ProviderBudget)
class ProviderBudgetAdmin(admin.ModelAdmin):
    list_display = ("provider", "cost_per_call_micro_usd", "monthly_budget_micro_usd", "enabled")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        budget_cache_clear()  # this process at once; the others within budgets.CACHE_SECONDS


@admin.register(ProviderUsageDay)
class ProviderUsageDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "provider", "calls", "refused", "cost_micro_usd")
    list_filter = ("provider",)
    date_hierarchy = "day"


@admin.register(UptimeMinute)
class UptimeMinuteAdmin(ReadOnlyAdmin):
    list_display = ("minute", "component", "up")
    list_filter = ("component", "up")
    date_hierarchy = "minute"


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("component", "last_seen", "detail")
    search_fields = ("component",)
