"""Screens: welcome, help, wallet, settings, demo. Each parses its input, calls one service, renders."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings as django_settings

from telegram_app import services
from telegram_app.bot import screens_security as security
from telegram_app.bot.core import Answer, Delete, Reply, Screen
from telegram_app.parsers import ParseError, format_sol, parse_sol_amount
from telegram_app.selectors import positions_open
from trading.errors import TradingError
from trading.execution.policy import priority_fee_describe
from trading.selectors import wallet_balances
from trading.services import (
    trading_settings_get,
    trading_settings_update,
    wallet_create as trader_wallet_create,
    wallet_export,
    wallet_import,
)
from trading.services.accounts import modes_allowed
from trading.services.quotes import paper_balance
from trading.tpsl.plans import preset, spec_to_json
from trading.wallets import wallet_activate, wallet_rename

EXPORT_VISIBLE_S = 60
HELP = """Commands
/wallet – your wallets: names, balances, the active one, create, import, switch, export
/2fa – the second factor (authenticator codes) that guards exporting a key and withdrawals
/withdraw – send SOL or a token to an address (/allowlist, /withdrawcap: where to and how much a day)
/buy <mint> [SOL] – buy a token (or just paste its address)
/sell – sell part or all of a holding
/positions – open positions, their exit plans, sell and edit buttons
/limit – limit orders: buy at a price (a dip or a breakout), sell part of a position at a price
/dca <mint> <SOL> <buys> <interval> – buy an amount again and again, with a price ceiling and a total cap
/watch <mint> [buy <SOL> on launch|graduation] [ceiling <price>] – follow a bags.fm launch; told when it graduates
/orders – your limit orders, DCA plans and launch watches: cancel, pause, resume
/pnl – profit and loss today, this week, all time
/settings – mode, slippage, fees, default exit plan, buy presets, notifications
/plan – the default exit plan: trailing stop, break-even after the first take-profit, time stop
/demo – paper trading with a paper balance
/trending – top tokens with buy buttons
/cancel – stop what I am waiting for
The trader's guide and FAQ (paper and live, fees, exit plans, withdrawals, 2FA): docs/traders.md in the desk's repository."""


def start(account, inc, created: bool = False):
    mode = _prefs(account).mode
    hello = "Welcome to Jarvis." if created else "Welcome back."
    screen = Screen(
        f"{hello} You are in {mode} mode"
        + (": trades are simulated with a paper balance, so nothing real is at risk." if mode == "paper" else ".")
        + "\nEvery position gets an exit plan (stop-loss and take-profits) the desk enforces while you are away.\n"
        "Create a wallet or import one to trade on-chain, or try paper trading first."
    )
    if not account.trader.wallets.exists():
        screen.row(("Create wallet", "wc"), ("Import wallet", "wi"))
    screen.button("Paper trading (/demo)", "dm")
    return screen


def help_(account, inc, *args):
    return Screen(HELP)


def cancel(account, inc, *args):
    return Screen("Cancelled. Send /help to see what I can do.")


def dismiss(account, inc, *args):
    services.conversation_clear(telegram_user_id=inc.user_id)
    return Screen("Cancelled.")


def _prefs(account):
    return trading_settings_get(trader=account.trader)


def wallet(account, inc, *args):
    """Every wallet with its name and balance, the active one marked; `/wallet new <name>` creates a named one."""
    if args and args[0].lower() == "new":
        return wallet_create(account, inc, " ".join(args[1:]))
    balances = wallet_balances(trader=account.trader)
    lines = [f"Paper balance: {format_sol(balances['paper_lamports'])} SOL"]
    if not balances["wallets"]:
        lines.append("You have no on-chain wallet yet.")
        return Screen("\n".join(lines)).row(("Create wallet", "wc"), ("Import wallet", "wi"))
    active = next((w for w in balances["wallets"] if w["active"]), balances["wallets"][0])
    for w in balances["wallets"]:
        sol = "unavailable right now" if w["lamports"] is None else f"{format_sol(w['lamports'])} SOL"
        mark = " (active: new buys use it)" if w is active else ""
        lines.append(f"{w['name']}{mark}\n{w['public_key']}\nBalance: {sol}")
    holdings = _holdings(account)
    if holdings:
        lines.append("Tokens: " + ", ".join(holdings))
    lines.append("To deposit, send SOL to a wallet's address from any wallet or exchange.")
    screen = Screen("\n".join(lines))
    others = [w for w in balances["wallets"] if w is not active]
    for start in range(0, len(others), 2):
        screen.row(*[(f"Use {w['name']}", "wa", w["id"]) for w in others[start:start + 2]])
    screen.row(("New wallet", "wc"), ("Import wallet", "wi"), ("Rename", "wn", active["id"]))
    return screen.row(("Refresh", "wr"), ("Export key", "we", active["id"]))


def wallet_switch(account, inc, wallet_id, *args):
    chosen = wallet_activate(trader=account.trader, wallet_id=int(wallet_id))
    screen = wallet(account, inc)
    screen.text = f"{chosen.name} is now your active wallet: new buys use it.\n\n" + screen.text
    return screen


def wallet_rename_prompt(account, inc, wallet_id, *args):
    services.conversation_set(telegram_user_id=inc.user_id, state="wallet_name", data={"wallet": int(wallet_id)})
    return Screen("Send the wallet's new name (up to 32 letters, digits, spaces, dots or dashes). /cancel to stop.")


def wallet_rename_do(account, inc, text, data):
    w = wallet_rename(trader=account.trader, wallet_id=int(data.get("wallet", 0)), name=text)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return Screen(f"Wallet renamed to {w.name}.").button("« Wallets", "wr")


def _holdings(account) -> list[str]:
    return [f"{p.token.symbol or p.token.mint[:6]} {Decimal(p.size) / Decimal(10) ** p.token.decimals:.6g}"
            for p in positions_open(trader=account.trader)]


def wallet_create(account, inc, name="", *args):
    if not inc.private:
        return Answer("Create wallets in a private chat with me.", alert=True)
    w = trader_wallet_create(trader=account.trader, name=name)
    state = "It is your active wallet: new buys use it." if w.active else "Switch to it in /wallet to buy with it."
    return (Screen(f"Your new wallet: {w.public_key}\nName: {w.name}. {state}\nSend SOL to it to trade on-chain. "
                   "/wallet shows its balance.").row(("Rename", "wn", w.id), ("« Wallets", "wr")))


def wallet_import_prompt(account, inc, *args):
    if not inc.private:
        return Answer("Import wallets in a private chat with me, never in a group.", alert=True)
    services.conversation_set(telegram_user_id=inc.user_id, state="import_key")
    return Screen("Send the wallet's private key (base58, or the JSON array of a keypair file) as your next message. "
                  "I delete that message at once. /cancel to stop.")


def wallet_import_do(account, inc, text, data):
    """The message holding the key is deleted whatever happens next."""
    services.conversation_clear(telegram_user_id=inc.user_id)
    actions = [Delete(inc.message_id)]
    try:
        w = wallet_import(trader=account.trader, secret=text.strip())
    except TradingError as exc:
        return actions + [Reply(f"{exc.message} I deleted your message; open /wallet to try again.")]
    state = "It is your active wallet." if w.active else "Switch to it in /wallet to buy with it."
    return actions + [Screen(f"Wallet imported: {w.public_key} as {w.name}. {state} I deleted the message with the key.")
                      .row(("Rename", "wn", w.id), ("« Wallets", "wr"))]


def wallet_export_prompt(account, inc, wallet_id=None, *args):
    if not inc.private:
        return Answer("Keys are only shown in a private chat with me.", alert=True)
    if security.is_on(account):  # the code is the confirmation
        return security.export_code_prompt(account, inc, wallet_id)
    return (Screen("Exporting shows your private key. Anyone who sees it controls the wallet's funds. "
                   f"The message deletes itself after {EXPORT_VISIBLE_S} seconds. Show it?")
            .row(("Yes, show the key", "wx", wallet_id), ("Cancel", "no")))


def wallet_export_do(account, inc, wallet_id, *args):
    if not inc.private:
        return Answer("Keys are only shown in a private chat with me.", alert=True)
    if security.is_on(account):
        return security.export_code_prompt(account, inc, wallet_id)
    secret = wallet_export(trader=account.trader, wallet_id=int(wallet_id))
    return [Screen("Key sent below; it disappears in a minute."),
            Reply(f"Private key (deleted in {EXPORT_VISIBLE_S} s):\n{secret}", delete_after_s=EXPORT_VISIBLE_S)]


def demo(account, inc, *args):
    trading_settings_update(trader=account.trader, mode="paper")
    return Screen(f"Paper trading is on. Paper balance: {format_sol(paper_balance(trader=account.trader))} SOL.\n"
                  "Paste a token address or try /trending; every screen works exactly as in live mode.")


# --- settings ---------------------------------------------------------------------------------------------
RISKY_TOKENS = {
    "confirm": "ask me to accept every critical risk",
    "freeze": "refuse a freeze authority, ask about other critical risks",
    "refuse": "refuse every critical risk",
}


def settings_screen(account, inc, *args):
    p = _prefs(account)
    presets = " / ".join(format_sol(v) for v in (p.buy_presets_lamports or []))
    notifications = "on" if (p.notifications or {}).get("enabled", True) else "off"
    plan = (p.default_exit_plan or {}).get("name") or "balanced"
    fee = priority_fee_describe(policy=p.priority_fee_policy, level_prices=django_settings.EXECUTION_PRIORITY_LEVEL_PRICES,
                                percentiles=django_settings.EXECUTION_PRIORITY_AUTO_PERCENTILES)
    mev = "on (swaps go as a tipped bundle)" if p.mev_protection else "off"
    screen = Screen(f"Settings\nMode: {p.mode}\nBuy slippage: {p.buy_slippage_bps / 100}%  Sell slippage: "
                    f"{p.sell_slippage_bps / 100}%\nPriority fee: {p.priority_fee_policy}: {fee}; at most "
                    f"{format_sol(p.priority_fee_max_lamports)} SOL a swap (twice that for exits)\n"
                    f"MEV protection: {mev}\nDefault exit plan: {plan}\n"
                    f"Buy presets: {presets} SOL\nNotifications: {notifications}\n"
                    f"Risky tokens: {RISKY_TOKENS[p.risky_tokens]}")
    other = "live" if p.mode == "paper" else "paper"
    screen.row(("Buy slip 1%", "st", "bs", 100), ("3%", "st", "bs", 300), ("5%", "st", "bs", 500))
    screen.row(("Sell slip 3%", "st", "ss", 300), ("5%", "st", "ss", 500), ("10%", "st", "ss", 1000))
    screen.row(("Fee auto", "st", "pf", "auto"), ("low", "st", "pf", "low"), ("medium", "st", "pf", "medium"),
               ("high", "st", "pf", "high"))
    screen.button(f"MEV protection {'off' if p.mev_protection else 'on'}", "st", "mv", 0 if p.mev_protection else 1)
    screen.row(("Plan conservative", "st", "ep", "conservative"), ("balanced", "st", "ep", "balanced"),
               ("aggressive", "st", "ep", "aggressive"))
    screen.row(("Edit buy presets", "st", "pr"), (f"Notifications {'off' if notifications == 'on' else 'on'}", "st", "nt",
                                                 0 if notifications == "on" else 1))
    screen.row(("Risky: ask", "st", "rk", "confirm"), ("refuse freezable", "st", "rk", "freeze"),
               ("refuse all", "st", "rk", "refuse"))
    screen.button(f"Switch to {other} mode", "st", "md", other)
    return screen


def settings_change(account, inc, what, value=None, *args):
    t = account.trader
    if what == "bs":
        trading_settings_update(trader=t, buy_slippage_bps=int(value))
    elif what == "ss":
        trading_settings_update(trader=t, sell_slippage_bps=int(value))
    elif what == "pf":
        trading_settings_update(trader=t, priority_fee_policy=value)
    elif what == "mv":
        trading_settings_update(trader=t, mev_protection=value == "1")
    elif what == "ep":
        trading_settings_update(trader=t, default_exit_plan=spec_to_json(preset(value)))
    elif what == "rk":
        trading_settings_update(trader=t, risky_tokens=value)
    elif what == "nt":
        trading_settings_update(trader=t, notifications={"enabled": value == "1"})
    elif what == "pr":
        services.conversation_set(telegram_user_id=inc.user_id, state="presets")
        return Screen("Send up to four buy presets in SOL separated by spaces, like: 0.1 0.5 1 5. /cancel to stop.")
    elif what == "md":
        if value == "paper":
            trading_settings_update(trader=t, mode="paper")
        else:
            if not t.wallets.exists():
                return Answer("Live trading needs a wallet: create or import one in /wallet first.", alert=True)
            return (Screen("Live mode trades real SOL from your wallet. Exits still run by your plans. Switch to live?")
                    .row(("Yes, trade for real", "lv"), ("Stay in paper", "no")))
    return settings_screen(account, inc)


def live_confirm(account, inc, *args):
    allowed = [m for m in modes_allowed() if m != "paper"]
    if not allowed:
        return Answer("This desk runs in paper mode only.", alert=True)
    trading_settings_update(trader=account.trader, mode=allowed[0])
    return settings_screen(account, inc)


def presets_set(account, inc, text, data):
    parts = text.replace(";", " ").split()
    if not 1 <= len(parts) <= 4:
        raise ParseError("Send between one and four amounts, like: 0.1 0.5 1 5.")
    values = [parse_sol_amount(p) for p in parts]
    trading_settings_update(trader=account.trader, buy_presets_lamports=values)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return Screen("Buy presets saved: " + " / ".join(format_sol(v) for v in values) + " SOL.")

