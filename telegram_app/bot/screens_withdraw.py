"""Screens: /withdraw (SOL or a held token to an address), /allowlist and /withdrawcap.

The flow: pick what to send, send the amount (a number, a percent like 25%, or max), send the address; a
confirmation screen shows amount, fees, rent and what remains, with a one-shot signed button carrying the
withdrawal. With the second factor on, the button asks for a current code and the code places the withdrawal.
Every check is trading.services.withdrawals'; a refusal is its sentence and nothing is written or sent.
"""

from __future__ import annotations

from telegram_app import services
from telegram_app.bot import screens_security as security
from telegram_app.bot.core import Delete, Reply, Screen
from telegram_app.parsers import ParseError, format_sol
from telegram_app.selectors import positions_open
from trading.services.withdrawals import (
    SOL,
    amount_parse,
    withdraw_address_add,
    withdraw_address_remove,
    withdraw_addresses,
    withdraw_cap_get,
    withdraw_cap_set,
    withdrawal_place,
    withdrawal_preview,
)

DIGITS36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = DIGITS36[r] + out
        if n == 0:
            return out


def _units(amount: int, decimals: int) -> str:
    return format_sol(amount) if decimals == 9 else _plain(amount, decimals)


def _plain(amount: int, decimals: int) -> str:
    whole, frac = divmod(amount, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".") if decimals else str(whole)


def _holding(account, asset: str):
    """(symbol, decimals) of what `asset` names: SOL or one of the trader's open positions."""
    if asset == SOL:
        return "SOL", 9
    p = next((p for p in positions_open(trader=account.trader) if str(p.pk) == str(asset) and p.status == "open"), None)
    if p is None:
        raise ParseError("You hold no such token to withdraw; /withdraw lists what you hold.", "not_found")
    return p.token.symbol or p.token.mint[:6], p.token.decimals


def withdraw(account, inc, *args):
    """`/withdraw` lists what can be sent; `/withdraw <SOL|position number> <amount|percent|max> <address>` goes
    straight to the confirmation."""
    if len(args) >= 3:
        asset = SOL if args[0].lower() == "sol" else args[0].lstrip("#")
        return _confirm_screen(account, asset=asset, amount_text=" ".join(args[1:-1]), destination=args[-1])
    if args:
        return Screen("Send /withdraw to choose, or /withdraw <SOL or position number> <amount, percent or max> "
                      "<address>.")
    cap, used = withdraw_cap_get(trader=account.trader)
    screen = Screen(f"What do you want to withdraw? Today's cap: {format_sol(max(cap - used, 0))} of "
                    f"{format_sol(cap)} SOL left (/withdrawcap). Allow-list: /allowlist.")
    screen.button("SOL", "wp", SOL)
    for p in positions_open(trader=account.trader):
        if p.status == "open":
            screen.button(f"#{p.pk} {p.token.symbol or p.token.mint[:6]} {_units(p.size, p.token.decimals)}", "wp", p.pk)
    return screen


def withdraw_pick(account, inc, asset="", *args):
    symbol, _ = _holding(account, str(asset))
    services.conversation_set(telegram_user_id=inc.user_id, state="withdraw_amount", data={"asset": str(asset)})
    return Screen(f"How much {symbol}? Send an amount like 0.5, a percent like 25%, or max. /cancel to stop.")


def withdraw_amount(account, inc, text, data):
    asset = str(data.get("asset", ""))
    symbol, decimals = _holding(account, asset)
    amount_parse(text, available=10**30, decimals=decimals, symbol=symbol)  # the form now; the balance once addressed
    services.conversation_set(telegram_user_id=inc.user_id, state="withdraw_address",
                              data={"asset": asset, "amount": text.strip()[:40]})
    return Screen(f"Send the address to send the {symbol} to. /cancel to stop.")


def withdraw_address(account, inc, text, data):
    screen = _confirm_screen(account, asset=str(data.get("asset", "")), amount_text=str(data.get("amount", "")),
                             destination=text)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return screen


def _confirm_screen(account, *, asset: str, amount_text: str, destination: str):
    q = withdrawal_preview(trader=account.trader, asset=asset, amount_text=amount_text, destination=destination)
    rent = f"\nRent of the recipient's new token account: {format_sol(q.rent_lamports)} SOL" if q.rent_lamports else ""
    warn = ("\n⚠️ That address is off the ed25519 curve: no private key exists for it, so only the program that owns it "
            "can move what you send. Send only if you know that is intended.") if q.off_curve else ""
    left = (f"{format_sol(q.remaining)} SOL" if q.asset == SOL
            else f"{_units(q.remaining, q.decimals)} {q.symbol} and {format_sol(q.remaining_sol)} SOL")
    code = "\nYour 2FA is on: confirming asks for a current code." if q.needs_code else ""
    ref = services.mint_ref(mint=q.destination)
    return (Screen(f"Withdraw {_units(q.amount, q.decimals)} {q.symbol} ({q.mode}) to\n{q.destination}\n"
                   f"Fees: up to {format_sol(q.fee_lamports)} SOL{rent}\nRemaining after it: about {left}\n"
                   f"Daily cap left after it: {format_sol(q.cap_left_lamports)} SOL{warn}{code}")
            .row(("✅ Confirm withdrawal", "wd", q.asset, _b36(q.amount), ref), ("Cancel", "no")))


def withdraw_confirm(account, inc, asset="", amount36="", ref="", *args):
    """The signed, one-shot confirm button (a second tap is refused by the router)."""
    destination = services.mint_of(ref=ref) if str(ref).isdigit() else None
    if destination is None or not str(amount36).isalnum() or not str(amount36).isascii():
        return Screen("That withdrawal is unknown now; send /withdraw again.")
    amount = int(amount36, 36)
    withdrawal_preview(trader=account.trader, asset=str(asset), amount=amount, destination=destination)
    if _code_needed(account):
        services.conversation_set(telegram_user_id=inc.user_id, state="withdraw_code",
                                  data={"asset": str(asset), "amount": amount, "destination": destination})
        return Screen("Your 2FA is on: send the 6-digit code your authenticator app shows now (or a recovery code) to "
                      "send this withdrawal. /cancel to stop.")
    return _placed(withdrawal_place(trader=account.trader, asset=str(asset), amount=amount, destination=destination))


def withdraw_code(account, inc, text, data):
    """The code's message is deleted; a refused code changes nothing (the trader may send another)."""
    order = withdrawal_place(trader=account.trader, asset=str(data.get("asset", "")), amount=int(data.get("amount", 0)),
                             destination=str(data.get("destination", "")), code=text)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return [Delete(inc.message_id), Reply(_placed(order).text)]


def _placed(order) -> Screen:
    return Screen(f"Withdrawal #{order.pk} is on its way to {order.destination}. I will message you when it lands.")


def _code_needed(account) -> bool:
    return security.is_on(account)


# --- the allow-list and the cap -------------------------------------------------------------------------------
def allowlist(account, inc, *args):
    """`/allowlist`, `/allowlist add <address> [code]`, `/allowlist remove <address> [code]`."""
    if len(args) >= 2 and args[0].lower() in ("add", "remove"):
        code = args[2] if len(args) > 2 else None
        actions = [Delete(inc.message_id)] if code and inc.message_id else []
        if args[0].lower() == "add":
            entry = withdraw_address_add(trader=account.trader, address=args[1], code=code)
            return actions + [Reply(f"Added {entry.address} to your allow-list; it can receive from "
                                    f"{entry.usable_at:%Y-%m-%d %H:%M} UTC.")]
        withdraw_address_remove(trader=account.trader, address=args[1], code=code)
        return actions + [Reply(f"Removed {args[1]} from your allow-list.")]
    rows = withdraw_addresses(trader=account.trader)
    how = ("/allowlist add <address> adds one (it waits a cool-down before it can receive); /allowlist remove "
           "<address> takes one off. With 2FA on, add a current code at the end.")
    if not rows:
        return Screen("Your withdrawal allow-list is empty, so withdrawals may go to any address.\n" + how)
    lines = [f"{r.address} (can receive from {r.usable_at:%Y-%m-%d %H:%M} UTC)" for r in rows]
    return Screen("Withdrawals go only to these addresses:\n" + "\n".join(lines) + "\n" + how)


def withdraw_cap(account, inc, *args):
    """`/withdrawcap` shows today's cap; `/withdrawcap <SOL> [code]` sets it."""
    if args:
        code = args[1] if len(args) > 1 else None
        lamports = withdraw_cap_set(trader=account.trader, text=args[0], code=code)
        actions = [Delete(inc.message_id)] if code and inc.message_id else []
        return actions + [Reply(f"Your daily withdrawal cap is now {format_sol(lamports)} SOL.")]
    cap, used = withdraw_cap_get(trader=account.trader)
    return Screen(f"Daily withdrawal cap: {format_sol(cap)} SOL; used today (UTC): {format_sol(used)} SOL.\n"
                  "/withdrawcap <SOL> changes it (with 2FA on, add a current code at the end).")
