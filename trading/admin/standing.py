"""Standing orders: limit orders, DCA plans and their buys, launch watches (read-only)."""

from __future__ import annotations

from django.contrib import admin

from trading.admin.common import ReadOnlyAdmin, ReadOnlyInline
from trading.models import (
    DcaBuy,
    DcaPlan,
    LaunchWatch,
    LimitOrder,
)


@admin.register(LimitOrder)
class LimitOrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "trader", "token", "side", "direction", "price", "amount_lamports", "percent", "status",
                    "expires_at", "order")
    list_filter = ("status", "side", "direction")
    search_fields = ("trader__name", "token__mint", "token__symbol")
    list_select_related = ("trader", "token", "order")
    readonly_fields = [f.name for f in LimitOrder._meta.fields]


class DcaBuyInline(ReadOnlyInline):
    model = DcaBuy
    fields = ("run", "position", "amount_lamports", "note", "created_at")
    readonly_fields = fields


@admin.register(DcaPlan)
class DcaPlanAdmin(ReadOnlyAdmin):
    list_display = ("id", "trader", "token", "amount_lamports", "buys_done", "buys_total", "interval_seconds",
                    "spent_lamports", "state", "next_run_at")
    list_filter = ("state",)
    search_fields = ("trader__name", "token__mint", "token__symbol")
    list_select_related = ("trader", "token")
    readonly_fields = [f.name for f in DcaPlan._meta.fields]
    inlines = (DcaBuyInline,)


@admin.register(DcaBuy)
class DcaBuyAdmin(ReadOnlyAdmin):
    list_display = ("plan", "run", "position", "amount_lamports", "note", "created_at")
    search_fields = ("=plan__id",)
    list_select_related = ("plan", "position")


@admin.register(LaunchWatch)
class LaunchWatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "trader", "mint", "symbol", "buy_on", "amount_lamports", "price_ceiling", "state",
                    "launch_status", "position")
    list_filter = ("state", "buy_on", "launch_status")
    search_fields = ("trader__name", "=mint", "symbol")
    list_select_related = ("trader", "position")
    readonly_fields = [f.name for f in LaunchWatch._meta.fields]

