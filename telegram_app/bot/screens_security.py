"""Screens: the second factor (/2fa, /security) and the code step of a wallet export."""

from __future__ import annotations

from telegram_app import services
from telegram_app.bot.core import Answer, Delete, Reply, Screen
from trading.second_factor import (
    RECOVERY_CODES,
    second_factor_begin,
    second_factor_confirm,
    second_factor_disable,
    second_factor_enabled,
    second_factor_recovery_left,
    second_factor_recovery_renew,
)
from trading.wallets import wallet_export

SHOWN_ONCE_S = 60  # the set-up secret, the recovery codes and an exported key delete themselves after this


def security(account, inc, *args):
    if second_factor_enabled(trader=account.trader):
        left = second_factor_recovery_left(trader=account.trader)
        return (Screen(f"Second factor (2FA): on.\nExporting a key asks for a current code from your authenticator app "
                       f"or one of your recovery codes ({left} of {RECOVERY_CODES} left).")
                .row(("New recovery codes", "fr"), ("Turn off 2FA", "fo")))
    return (Screen("Second factor (2FA): off.\nTurn it on and exporting a key will ask for a 6-digit code from an "
                   "authenticator app (Google Authenticator, Aegis, 1Password, ...) as well as this chat.")
            .row(("Turn on 2FA", "fa"), ("Cancel", "no")))


def setup_begin(account, inc, *args):
    if not inc.private:
        return Answer("Set up 2FA in a private chat with me.", alert=True)
    label = account.username or account.first_name or str(inc.user_id)
    secret, uri = second_factor_begin(trader=account.trader, account_label=label)
    services.conversation_set(telegram_user_id=inc.user_id, state="totp_confirm")
    return [Screen("Add the key below to your authenticator app (open the link, or type the secret), then send me the "
                   f"6-digit code it shows. The key is shown once and deleted in {SHOWN_ONCE_S} s. /cancel to stop."),
            Reply(f"Secret: {secret}\n{uri}", delete_after_s=SHOWN_ONCE_S)]


def setup_confirm(account, inc, text, data):
    codes = second_factor_confirm(trader=account.trader, code=text)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return Reply("2FA is on: exporting a key now asks for a code. Your recovery codes (each works once, in place of a "
                 f"code; this message is deleted in {SHOWN_ONCE_S} s, so write them down):\n" + "\n".join(codes),
                 delete_after_s=SHOWN_ONCE_S)


CODE_ASKED = "send the 6-digit code your authenticator app shows now (or a recovery code). /cancel to stop."


def off_prompt(account, inc, *args):
    if not second_factor_enabled(trader=account.trader):
        return Answer("Your second factor is already off.", alert=True)
    services.conversation_set(telegram_user_id=inc.user_id, state="totp_off")
    return Screen("Turning 2FA off: exporting a key will no longer ask for a code. To turn it off, " + CODE_ASKED)


def off_code(account, inc, text, data):
    """A refused code leaves 2FA on and the bot waiting (the trader may send another)."""
    second_factor_disable(trader=account.trader, code=text)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return [Delete(inc.message_id), Reply("2FA is off; its key and recovery codes are deleted. /2fa to turn it on again.")]


def recovery_prompt(account, inc, *args):
    if not second_factor_enabled(trader=account.trader):
        return Answer("Your second factor is off: there are no recovery codes.", alert=True)
    services.conversation_set(telegram_user_id=inc.user_id, state="totp_recovery")
    return Screen("New recovery codes replace every old one at once. To get them, " + CODE_ASKED)


def recovery_code(account, inc, text, data):
    codes = second_factor_recovery_renew(trader=account.trader, code=text)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return [Delete(inc.message_id),
            Reply("Your new recovery codes (the old ones no longer work; each works once, in place of a code; this "
                  f"message is deleted in {SHOWN_ONCE_S} s, so write them down):\n" + "\n".join(codes),
                  delete_after_s=SHOWN_ONCE_S)]


def export_code_prompt(account, inc, wallet_id):
    services.conversation_set(telegram_user_id=inc.user_id, state="export_code", data={"wallet": int(wallet_id)})
    return Screen("Exporting shows your private key; anyone who sees it controls the wallet's funds. The message "
                  f"deletes itself after {SHOWN_ONCE_S} seconds. Your 2FA is on: to show it, send the 6-digit code your "
                  "authenticator app shows now, or a recovery code. /cancel to stop.")


def export_code(account, inc, text, data):
    """The code's message is deleted; a refused code leaves everything as it was (the trader may send another)."""
    secret = wallet_export(trader=account.trader, wallet_id=int(data.get("wallet", 0)), code=text)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return [Delete(inc.message_id),
            Reply(f"Code accepted. Private key (deleted in {SHOWN_ONCE_S} s):\n{secret}", delete_after_s=SHOWN_ONCE_S)]


def is_on(account) -> bool:
    return second_factor_enabled(trader=account.trader)
