"""The one entry point for every update: rate limit, authorization, parse, call a screen, render.

Synchronous (it talks to the database and Redis); the async layer runs it in a worker thread so the
event loop never blocks. Every refusal is one plain sentence; nothing raises to the trader.
"""

from __future__ import annotations

import logging
import time

from jarvis.redact import contains_secret
from telegram_app import limits, selectors, services
from telegram_app.bot import screens_account as acc, screens_admin as adm, screens_plan as plan, screens_trade as trade
from telegram_app.bot import screens_orders as orders
from telegram_app.bot import screens_security as sec
from telegram_app.bot import screens_withdraw as wd
from telegram_app.bot.core import Answer, Delete, Edit, Incoming, Reply, Screen, callback_key
from telegram_app.callbacks import SHORT_LIVED, CallbackError, cb_verify
from telegram_app.models import TelegramAccount
from telegram_app.parsers import ParseError, looks_like_mint
from trading.errors import TradingError
from trading.tpsl.plans import PlanError

logger = logging.getLogger(__name__)
OOPS = "Something went wrong on our side; nothing was changed. Please try again in a minute."

# command -> (screen, needs an account, private chat only, admin only)
COMMANDS = {
    "start": (acc.start, False, True, False),
    "help": (acc.help_, False, False, False),
    "wallet": (acc.wallet, True, True, False),
    "2fa": (sec.security, True, True, False),
    "security": (sec.security, True, True, False),
    "plan": (plan.plan, True, True, False),
    "buy": (trade.buy_command, True, True, False),
    "sell": (trade.sell_list, True, True, False),
    "positions": (trade.positions, True, True, False),
    "pnl": (trade.pnl, True, True, False),
    "settings": (acc.settings_screen, True, True, False),
    "demo": (acc.demo, True, True, False),
    "trending": (trade.trending, True, True, False),
    "limit": (orders.limit, True, True, False),
    "dca": (orders.dca, True, True, False),
    "orders": (orders.orders, True, True, False),
    "withdraw": (wd.withdraw, True, True, False),
    "allowlist": (wd.allowlist, True, True, False),
    "withdrawcap": (wd.withdraw_cap, True, True, False),
    "watch": (orders.watch, True, True, False),
    "cancel": (acc.cancel, True, False, False),
    "status": (adm.status, False, False, True),
    "killswitch": (adm.killswitch, False, False, True),
    "health": (adm.health, False, False, True),
    "broadcast": (adm.broadcast, False, False, True),
    "vibe": (adm.vibe, False, True, True),
}
# callback action -> screen(account, inc, *args)
CALLBACKS = {
    "wc": acc.wallet_create, "wi": acc.wallet_import_prompt, "we": acc.wallet_export_prompt, "wx": acc.wallet_export_do,
    "wr": acc.wallet, "st": acc.settings_change, "lv": acc.live_confirm, "dm": acc.demo,
    "tc": trade.token_card_cb, "bp": trade.buy_preview_cb, "bx": trade.buy_custom_prompt, "bc": trade.buy_confirm,
    "ba": trade.buy_confirm,
    "pv": trade.position_card_cb, "sv": trade.sell_pick, "sp": trade.sell_preview, "sx": trade.sell_custom_prompt,
    "sc": trade.sell_confirm, "se": trade.stop_prompt, "te": trade.take_profit_prompt, "lp": trade.ladder_set,
    "tr": trade.trailing_set, "ps": trade.positions, "no": acc.dismiss, "va": adm.vibe_decide,
    "fa": sec.setup_begin, "fo": sec.off_prompt, "fr": sec.recovery_prompt, "wa": acc.wallet_switch, "wn": acc.wallet_rename_prompt,
    "wp": wd.withdraw_pick, "wd": wd.withdraw_confirm,
    "cc": trade.position_share, "pc": trade.pnl_share, "pn": trade.pnl,
    "tf": plan.trailing_prompt, "be": plan.breakeven_set, "ts": plan.time_stop_prompt, "pl": plan.plan,
    "or": orders.orders_cb, "lx": orders.limit_cancel_cb, "dp": orders.dca_pause, "dr": orders.dca_resume,
    "dx": orders.dca_cancel, "lb": orders.limit_prompt, "dc": orders.dca_prompt, "lw": orders.watch_cancel_cb,
}
ADMIN_CALLBACKS = {"va"}  # buttons an admin may press without a trader account
# conversation state -> screen(account, inc, text, data)
AWAITING = {
    "import_key": acc.wallet_import_do,
    "buy_amount": trade.buy_custom_amount,
    "sell_percent": trade.sell_custom_percent,
    "stop_loss": trade.stop_set,
    "take_profit": trade.take_profit_set,
    "presets": acc.presets_set,
    "totp_confirm": sec.setup_confirm,
    "export_code": sec.export_code,
    "totp_off": sec.off_code,
    "totp_recovery": sec.recovery_code,
    "wallet_name": acc.wallet_rename_do,
    "plan_trailing": plan.trailing_figures,
    "plan_time": plan.time_stop_set,
    "limit_buy": orders.limit_from_card,
    "dca_plan": orders.dca_from_card,
    "withdraw_amount": wd.withdraw_amount,
    "withdraw_address": wd.withdraw_address,
    "withdraw_code": wd.withdraw_code,
}


def _render(result, inc: Incoming) -> list:
    if result is None:
        return []
    if isinstance(result, list):
        return [r for item in result for r in _render(item, inc)]
    if isinstance(result, Screen):
        markup = result.markup(inc.user_id)
        return [Edit(result.text, markup)] if inc.callback_data is not None else [Reply(result.text, markup)]
    if isinstance(result, str):
        return _render(Screen(result), inc)
    return [result]


def _account(inc: Incoming) -> TelegramAccount | None:
    return selectors.account_by_user(telegram_user_id=inc.user_id)


def handle(inc: Incoming) -> list:
    started = time.monotonic()
    try:
        allowed, wait = limits.command_allow(user_id=inc.user_id)
        if not allowed:
            text = f"You are sending commands too fast. Try again in {wait} s."
            return [Answer(text, alert=True)] if inc.callback_data is not None else [Reply(text)]
        actions = _route(inc)
    except (TradingError, ParseError, PlanError) as exc:
        text = getattr(exc, "message", str(exc))
        actions = [Answer(text, alert=True)] if inc.callback_data is not None else [Reply(text)]
    except Exception:
        logger.exception("update from user %s failed", inc.user_id)
        actions = [Answer(OOPS, alert=True)] if inc.callback_data is not None else [Reply(OOPS)]
    if inc.callback_data is not None and not any(isinstance(a, Answer) for a in actions):
        actions.append(Answer())
    logger.debug("handled update of %s in %.1f ms", inc.user_id, (time.monotonic() - started) * 1000)
    return actions


def _route(inc: Incoming) -> list:
    if inc.callback_data is not None:
        return _callback(inc)
    text = (inc.text or "").strip()
    if contains_secret(text):
        state = services.conversation_get(telegram_user_id=inc.user_id)[0] if inc.private else ""
        if state == "import_key":
            account = _account(inc)
            return _render(acc.wallet_import_do(account, inc, text, {}), inc)
        where = "a group" if not inc.private else "a chat"
        return [Delete(inc.message_id), Reply(f"⚠️ That looked like a private key or a seed phrase, so I deleted it. Never "
                                               f"paste keys into {where}: whoever reads one controls the wallet. To import "
                                               "a wallet use /wallet in a private chat with me.")]
    if inc.edited:
        return []  # an edited command or answer is not run again; only a key edited in is acted on (above)
    if text.startswith("/"):
        return _command(inc, text)
    if not inc.private:
        return []  # group chatter is not for the bot (only its commands are)
    account, state, data = selectors.account_with_state(telegram_user_id=inc.user_id)
    if account is None:
        return [Reply("Send /start first to open your account.")]
    if state in AWAITING:
        return _render(AWAITING[state](account, inc, text, data), inc)
    if looks_like_mint(text.split()[0] if text else ""):
        return _render(trade.token_card(account, inc, text.split()[0]), inc)
    return [Reply("I did not understand that. Paste a token address to trade it, or send /help for the commands.")]


def _command(inc: Incoming, text: str) -> list:
    head, *args = text.split()
    name = head[1:].split("@", 1)[0].lower()
    spec = COMMANDS.get(name)
    if spec is None:
        return [Reply(f"I do not know /{name[:32]}. Send /help to see what I can do.")]
    screen, needs_account, private_only, admin_only = spec
    if admin_only and not inc.is_admin:
        return [Reply("That command is for the desk's operators only.")]
    if private_only and not inc.private:
        return [Reply("Let's talk about money in private: open a direct chat with me and send the command there.")]
    account = None
    if needs_account or name == "start":
        if name == "start":
            account, created = services.account_register(telegram_user_id=inc.user_id, chat_id=inc.chat_id,
                                                         username=inc.username, first_name=inc.first_name)
            return _render(acc.start(account, inc, created), inc)
        account, state, _ = selectors.account_with_state(telegram_user_id=inc.user_id)
        if account is None:
            return [Reply("Send /start first to open your account.")]
        if state:  # a command ends whatever the bot was waiting for
            services.conversation_clear(telegram_user_id=inc.user_id)
    return _render(screen(account, inc, *args), inc)


def _callback(inc: Incoming) -> list:
    try:
        cb = cb_verify(key=callback_key(), user_id=inc.user_id, data=inc.callback_data or "", now=time.time())
    except CallbackError as exc:
        logger.info("refused button from user %s: %s", inc.user_id, exc.code)
        return [Answer(exc.message, alert=True)]
    screen = CALLBACKS.get(cb.action)
    account = _account(inc)
    if screen is None or (account is None and not (inc.is_admin and cb.action in ADMIN_CALLBACKS)):
        return [Answer("That button no longer does anything. Send the command again.", alert=True)]
    if cb.action in SHORT_LIVED and not services.callback_claim_once(sig=cb.sig):
        return [Answer("Already done: that button works once.", alert=True)]
    return _render(screen(account, inc, *cb.args), inc)
