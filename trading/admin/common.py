"""What the trading admin's modules share: SOL amounts, explorer links, cached prices, read-only admins."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.contrib import admin

from trading.models import Order
from trading.models.choices import LAMPORTS_PER_SOL
from trading.prices import prices_get_many


def sol(lamports: int | None) -> str:
    return "—" if lamports is None else f"{lamports / LAMPORTS_PER_SOL:,.4f} SOL"


EXPLORER_URL = "https://explorer.solana.com"


def explorer_link(order: Order) -> str | None:
    """The transaction on Solana Explorer for the order's cluster: mainnet in live mode, the desk's own RPC as a
    custom cluster in sandbox mode, nothing in paper mode (no transaction exists)."""
    if not order.signature or order.mode == "paper":
        return None
    if order.mode == "live":
        return f"{EXPLORER_URL}/tx/{order.signature}"
    return f"{EXPLORER_URL}/tx/{order.signature}?cluster=custom&customUrl={quote(settings.SOLANA_RPC_URL, safe='')}"


def prices_for(mints: list[str]) -> dict:
    """Cached prices for a page of rows; Redis down means no price shown, never a broken page."""
    try:
        return prices_get_many(mints=mints)
    except Exception:
        return {}


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money history: viewable and searchable, never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

