"""Traders, wallets, tokens, positions, orders, exit plans, events and paper ledgers: money history, read-only, with
the operator's actions (close a position, retry a failed order, pause a trader) through the services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from trading.admin.common import ReadOnlyAdmin, ReadOnlyInline, explorer_link, prices_for, sol
from trading.errors import TradingError
from trading.models import (
    DomainEvent,
    ExitLeg,
    ExitPlan,
    Order,
    PaperLedger,
    Position,
    SecondFactor,
    Token,
    Trader,
    Wallet,
    WithdrawAddress,
)
from trading.selectors import position_value_lamports
from trading.services import order_retry, position_close
from trading.services.accounts import trader_pause_set
from trading.services.quotes import paper_balance


@admin.register(Trader)
class TraderAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "is_paused", "created_at")
    list_filter = ("is_paused",)
    search_fields = ("name",)
    actions = ("pause_traders", "resume_traders")

    def _pause(self, request, queryset, paused: bool) -> None:
        traders = list(queryset)
        changed = trader_pause_set(trader_ids=[t.id for t in traders], paused=paused)
        for trader in traders:  # who and when: the admin history of each trader
            self.log_change(request, trader, "paused (new buys refused)" if paused else "resumed")
        self.message_user(request, f"{changed} trader(s) {'paused: their new buys are refused' if paused else 'resumed'}.")

    @admin.action(description="Pause selected traders (refuse new buys; exits keep running)", permissions=["change"])
    def pause_traders(self, request, queryset):
        self._pause(request, queryset, True)

    @admin.action(description="Resume selected traders", permissions=["change"])
    def resume_traders(self, request, queryset):
        self._pause(request, queryset, False)


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    """Public key and key id only: the encrypted secret is not even a field of this page."""

    list_display = ("id", "public_key", "trader", "key_id", "created_at")
    list_filter = ("key_id",)
    search_fields = ("public_key", "trader__name")
    fields = ("public_key", "trader", "key_id", "created_at")
    readonly_fields = fields


@admin.register(SecondFactor)
class SecondFactorAdmin(ReadOnlyAdmin):
    """Whether a trader's second factor is on, and since when: neither the secret nor the recovery codes' hashes are
    fields of this page."""

    list_display = ("id", "trader", "confirmed_at", "key_id", "created_at")
    search_fields = ("trader__name",)
    fields = ("trader", "confirmed_at", "key_id", "created_at")
    readonly_fields = fields


@admin.register(WithdrawAddress)
class WithdrawAddressAdmin(ReadOnlyAdmin):
    """A trader's withdrawal allow-list (read-only: a trader changes it with /allowlist, behind 2FA when it is on)."""

    list_display = ("id", "trader", "address", "added_at", "usable_at")
    search_fields = ("trader__name", "address")
    fields = ("trader", "address", "label", "added_at", "usable_at")
    readonly_fields = fields


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = ("symbol", "name", "mint", "decimals", "token_program")
    search_fields = ("mint", "symbol", "name")
    list_filter = ("token_program",)


class ExitLegInline(ReadOnlyInline):
    model = ExitLeg
    fields = ("index", "trigger_multiple", "fraction", "status", "filled_at")
    readonly_fields = fields


class OrderInline(ReadOnlyInline):
    model = Order
    fk_name = "position"
    fields = ("id", "side", "reason", "status", "venue", "amount_in", "amount_out_actual", "fill_price", "error", "created_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("id", "trader", "token", "mode", "status", "size", "cost", "realised", "unrealised", "exit_state",
                    "exit_health", "entry_price", "opened_at")
    list_filter = ("status", "mode", ("exit_stuck_at", admin.EmptyFieldListFilter), "opened_at")
    search_fields = ("token__symbol", "token__mint", "trader__name", "wallet__public_key")
    list_select_related = ("trader", "token", "exit_plan")
    date_hierarchy = "opened_at"
    readonly_fields = [f.name for f in Position._meta.fields]
    inlines = (OrderInline,)
    actions = ("close_positions", "retry_failed_exits")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            legs_total=Count("exit_plan__legs", distinct=True),
            legs_filled=Count("exit_plan__legs", filter=Q(exit_plan__legs__status="filled"), distinct=True),
            sells_failed=Count("orders", filter=Q(orders__side="sell", orders__status="failed"), distinct=True),
        )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        prices = prices_for(list({p.token.mint for p in changelist.result_list}))
        for position in changelist.result_list:  # the page's rows, evaluated once: one MGET for all of them
            position.cached_price = prices.get(position.token.mint)
        return changelist

    @admin.display(description="unrealised PnL")
    def unrealised(self, position: Position) -> str:
        point = getattr(position, "cached_price", None)
        if position.status == "closed" or position.size == 0:
            return "—"
        if point is None:
            return "no price"
        return sol(position_value_lamports(position=position, price=point.price) - position.cost_lamports)

    @admin.display(description="exit plan")
    def exit_state(self, position: Position) -> str:
        plan = getattr(position, "exit_plan", None)
        if plan is None:
            return "none"
        parts = [plan.preset or "custom", f"TP {getattr(position, 'legs_filled', 0)}/{getattr(position, 'legs_total', 0)}"]
        if position.stop_price is not None:
            parts.append(f"SL @{position.stop_price.normalize():f}")
        if position.trailing_stop_price is not None:
            parts.append(f"trail @{position.trailing_stop_price.normalize():f}")
        return " · ".join(parts)

    @admin.display(description="exits", ordering="exit_stuck_at")
    def exit_health(self, position: Position) -> str:
        failed = getattr(position, "sells_failed", 0)
        orders = reverse("admin:trading_order_changelist") + f"?position__id__exact={position.id}&side__exact=sell"
        if position.exit_stuck_at is not None:
            return format_html('<a class="exit-stuck" style="color:#fff;background:#ba2121;padding:1px 4px" href="{}">'
                               "STUCK since {} · {} failed</a>", orders + "&status__exact=failed",
                               position.exit_stuck_at.strftime("%H:%M"), failed)
        if failed:
            return format_html('<a style="color:#ba2121" href="{}">{} failed</a>', orders, failed)
        return "ok"

    @admin.display(description="cost")
    def cost(self, position: Position) -> str:
        return sol(position.cost_lamports)

    @admin.display(description="realised PnL")
    def realised(self, position: Position) -> str:
        return sol(position.realised_pnl_lamports)

    def has_close_permission(self, request) -> bool:
        return request.user.has_perm("trading.close_position")

    @admin.action(description="Close selected positions (sell everything)", permissions=["close"])
    def close_positions(self, request, queryset):
        started = busy = 0
        for position in queryset:
            try:
                order = position_close(position_id=position.id)
            except TradingError as exc:
                self.message_user(request, f"Position #{position.id}: {exc.message}", messages.ERROR)
                continue
            started, busy = (started + 1, busy) if order else (started, busy + 1)
        self.message_user(request, f"{started} closing sell(s) queued; {busy} already busy or not open.")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("trading.retry_order")

    @admin.action(description="Retry the last failed exit of selected positions", permissions=["retry"])
    def retry_failed_exits(self, request, queryset):
        for position in queryset:
            failed = position.orders.filter(side="sell", status="failed").order_by("-id").first()
            if failed is None:
                self.message_user(request, f"Position #{position.id}: no failed exit to retry.", messages.WARNING)
                continue
            try:
                retry = order_retry(order_id=failed.id)
            except TradingError as exc:
                self.message_user(request, f"Position #{position.id}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Position #{position.id}: failed order #{failed.id} retried as order #{retry.id}.")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "position", "side", "reason", "mode", "venue", "status", "amount_in", "amount_out_actual",
                    "attempts", "transaction", "short_error", "created_at")
    list_filter = ("status", "side", "reason", "mode", "venue", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("client_id", "signature", "position__token__symbol", "position__trader__name")
    list_select_related = ("position__token",)
    exclude = ("signed_tx", "tip_tx")
    readonly_fields = [f.name for f in Order._meta.fields if f.name not in ("signed_tx", "tip_tx")] + ["transaction"]
    actions = ("retry_orders",)

    @admin.display(description="transaction")
    def transaction(self, order: Order) -> str:
        link = explorer_link(order)
        if link is None:
            return order.signature[:12] or "—"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}…</a>', link, order.signature[:12])

    @admin.display(description="error")
    def short_error(self, order: Order) -> str:
        return format_html('<span style="color:#ba2121">{}</span>', order.error[:160]) if order.error else ""

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("trading.retry_order")

    @admin.action(description="Retry selected failed orders (a buy is placed again as a new buy)", permissions=["retry"])
    def retry_orders(self, request, queryset):
        for order in queryset:
            try:
                retry = order_retry(order_id=order.id)
            except TradingError as exc:
                self.message_user(request, f"Order #{order.id}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Order #{order.id} retried as order #{retry.id}.")


@admin.register(ExitPlan)
class ExitPlanAdmin(ReadOnlyAdmin):
    list_display = ("position", "preset", "stop_loss_pct", "trailing_distance_pct", "max_hold_seconds", "updated_at")
    list_filter = ("preset",)
    readonly_fields = [f.name for f in ExitPlan._meta.fields]
    inlines = (ExitLegInline,)


@admin.register(ExitLeg)
class ExitLegAdmin(ReadOnlyAdmin):
    list_display = ("plan", "index", "trigger_multiple", "fraction", "status", "filled_at")
    list_filter = ("status",)
    search_fields = ("=plan__position__id",)
    list_select_related = ("plan",)



@admin.register(DomainEvent)
class DomainEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "trader", "created_at", "delivered_at")
    list_filter = ("kind",)
    date_hierarchy = "created_at"
    search_fields = ("trader__name",)
    readonly_fields = [f.name for f in DomainEvent._meta.fields]


@admin.register(PaperLedger)
class PaperLedgerAdmin(ReadOnlyAdmin):
    list_display = ("trader", "start", "balance", "updated_at")
    readonly_fields = ("trader", "start_balance_lamports", "created_at")

    @admin.display(description="start")
    def start(self, ledger: PaperLedger) -> str:
        return sol(ledger.start_balance_lamports)

    @admin.display(description="balance now")
    def balance(self, ledger: PaperLedger) -> str:
        return sol(paper_balance(trader=ledger.trader))

