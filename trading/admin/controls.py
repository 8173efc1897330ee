"""What steers the desk: trading settings (validated by the service), risk limits and kill switches."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from trading.admin.common import sol
from trading.errors import TradingError
from trading.models import KillSwitch, RiskLimits, TradingSettings
from trading.services import kill_switch_set, trading_settings_update
from trading.services.accounts import settings_changes_validate


class TradingSettingsForm(forms.ModelForm):
    class Meta:
        model = TradingSettings
        fields = "__all__"

    def clean(self):
        data = super().clean()
        changes = {
            name: data[name]
            for name in self.changed_data
            if name in data and name != "trader" and data[name] != getattr(self.instance, name, None)
        }
        try:
            self.validated = settings_changes_validate(changes)
        except TradingError as exc:
            raise ValidationError(exc.message) from None
        return data


@admin.register(TradingSettings)
class TradingSettingsAdmin(admin.ModelAdmin):
    form = TradingSettingsForm
    list_display = ("trader", "mode", "buy_slippage_bps", "sell_slippage_bps", "priority_fee_policy", "mev_protection",
                    "updated_at")
    list_filter = ("mode", "priority_fee_policy", "mev_protection")
    search_fields = ("trader__name",)

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        trading_settings_update(trader=obj.trader, **form.validated)


@admin.register(RiskLimits)
class RiskLimitsAdmin(admin.ModelAdmin):
    list_display = ("scope", "max_trade", "max_open_positions", "daily_loss", "daily_volume", "updated_at")
    search_fields = ("trader__name",)

    @admin.display(description="scope")
    def scope(self, row: RiskLimits) -> str:
        return str(row.trader) if row.trader_id else "global (defaults)"

    @admin.display(description="max per trade")
    def max_trade(self, row: RiskLimits) -> str:
        return sol(row.max_trade_lamports)

    @admin.display(description="daily loss limit")
    def daily_loss(self, row: RiskLimits) -> str:
        return sol(row.daily_loss_limit_lamports)

    @admin.display(description="daily volume cap")
    def daily_volume(self, row: RiskLimits) -> str:
        return sol(row.daily_volume_cap_lamports)


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):
    list_display = ("scope", "enabled", "changed_by", "changed_at", "reason")
    list_filter = ("enabled",)
    search_fields = ("trader__name", "reason")
    fields = ("trader", "enabled", "reason", "changed_by", "changed_at")
    readonly_fields = ("changed_by", "changed_at")
    actions = ("engage", "release")

    @admin.display(description="scope")
    def scope(self, row: KillSwitch) -> str:
        return str(row.trader) if row.trader_id else "GLOBAL"

    def save_model(self, request, obj, form, change):
        switch = kill_switch_set(enabled=obj.enabled, trader=obj.trader, actor=request.user.get_username(), reason=obj.reason)
        obj.pk = switch.pk

    def _set(self, request, queryset, enabled: bool):
        for row in queryset:
            kill_switch_set(enabled=enabled, trader=row.trader, actor=request.user.get_username(), reason=row.reason)
        self.message_user(request, f"{queryset.count()} kill switch(es) {'engaged' if enabled else 'released'}.")

    @admin.action(description="Engage selected kill switches", permissions=["change"])
    def engage(self, request, queryset):
        self._set(request, queryset, True)

    @admin.action(description="Release selected kill switches", permissions=["change"])
    def release(self, request, queryset):
        self._set(request, queryset, False)
