"""Withdrawals: SOL or a held token out of a trader's wallet (or paper balance) to an address.

`withdrawal_preview` checks everything and says what would happen (amount, fees, rent of the recipient's token
account, what remains, the daily cap); `withdrawal_place` checks it all again, spends the second-factor code when
the trader has one, and writes the one withdrawal order (`order_build`, side "withdraw") that the landing loop
executes like any swap (trading.execution.onchain; the transfer itself is built by trading.venues.transfer).
Every refusal is a TradingError with one sentence, raised before anything is written or sent.

Limits: a daily cap per trader in lamports (SOL, and tokens at their SOL worth: the current price, or the
position's entry price without one), counted over the UTC day's withdrawals that did not fail; and an optional
allow-list: while a trader has any address on it, withdrawals go only to listed addresses whose cool-down passed.
Changing the cap or the allow-list needs a current code when the second factor is on.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from solders.pubkey import Pubkey

from trading.chain import RpcError, rpc_client
from trading.errors import Conflict, InsufficientBalance, InvalidInput, NotFound, VenueError
from trading.models import (
    Mode,
    Order,
    OrderSide,
    OrderStatus,
    Position,
    PositionStatus,
    Trader,
    TradingSettings,
    Wallet,
    WithdrawAddress,
)
from trading.models.choices import LAMPORTS_PER_SOL, ORDER_IN_FLIGHT, SOL_MINT, TOKEN_2022_PROGRAM
from trading.numbers import plain_decimal
from trading.prices import price_fresh
from trading.second_factor import second_factor_check, second_factor_enabled
from trading.services.accounts import trading_settings_get
from trading.services.orders import order_build, order_enqueue
from trading.services.quotes import onchain_balance, paper_balance
from trading.venues.transfer import NETWORK_FEE_LAMPORTS, PAPER_TRANSFER_FEE_LAMPORTS, associated_token_address

logger = logging.getLogger(__name__)

SOL = "sol"  # the asset of a SOL withdrawal; a token's is its position id
SYSTEM_ACCOUNT_RENT = 890_880  # lamports a new system account needs to exist (rent-exempt minimum of 0 bytes)
TOKEN_ACCOUNT_SIZES = {TOKEN_2022_PROGRAM: 182}  # an associated account with its extensions; SPL Token: 165
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")


@dataclass(frozen=True)
class WithdrawalPreview:
    asset: str  # "sol" or the position id
    symbol: str
    decimals: int
    amount: int  # lamports, or base units of the token
    destination: str
    off_curve: bool  # the address is no wallet's (a program-derived address): only its program can move what arrives
    fee_lamports: int  # the network fee and the priority fee at most
    rent_lamports: int  # the recipient's new token account (0 if it has one, or for SOL)
    remaining: int  # of the asset after the withdrawal (SOL: after fees as well)
    remaining_sol: int  # SOL left after the withdrawal, its fees and rent
    value_lamports: int  # counted against the daily cap
    cap_left_lamports: int  # of today's cap, after this withdrawal
    mode: str
    needs_code: bool


def address_parse(text: str) -> tuple[str, bool]:
    """A Solana address (base58 of 32 bytes) and whether it is off the ed25519 curve (no private key exists for it)."""
    raw = (text or "").strip()
    if not _BASE58.match(raw):
        raise InvalidInput("That is not a Solana address: an address is 32 to 44 base58 characters. Copy it again.",
                           "bad_address")
    try:
        key = Pubkey.from_string(raw)
    except ValueError:
        key = None
    if key is None or str(key) != raw:
        raise InvalidInput("That is not a Solana address: it does not decode to 32 bytes. Copy it again.", "bad_address")
    return raw, not key.is_on_curve()


def amount_parse(text: str, *, available: int, decimals: int, symbol: str) -> int:
    """What a trader typed as the amount: a number of whole SOL or tokens ("0.5"), a percent of what is available
    ("25%"), or "max". Read by trading.numbers (no separators, exponents, signs, nan/inf or other scripts' digits)."""
    raw = (text or "").strip()
    if raw.lower() in ("max", "all"):
        amount = available
    elif raw.endswith("%"):
        pct = plain_decimal(raw[:-1], what="a percent", example="25%")
        if not 0 < pct <= 100:
            raise InvalidInput("A percent is more than 0 and at most 100, like 25%.", "invalid_percent")
        amount = int((Decimal(available) * pct / 100).to_integral_value(ROUND_FLOOR))
    else:
        value = plain_decimal(raw, what=f"an amount of {symbol}", example="0.5")
        units = value * (Decimal(10) ** decimals)
        if units != units.to_integral_value():
            raise InvalidInput(f"{symbol} has at most {decimals} decimal places.", "too_precise")
        amount = int(units)
    if amount <= 0:
        raise InvalidInput("The amount must be more than zero.", "not_positive")
    return amount


def _active_wallet(trader: Trader) -> Wallet:
    wallet = Wallet.objects.filter(trader=trader).order_by("-active", "id").first()
    if wallet is None:
        raise InvalidInput("You need a wallet before withdrawing on-chain; /wallet creates or imports one.", "no_wallet")
    return wallet


def _rpc_read(fn, *args):
    try:
        return fn(*args)
    except RpcError:
        raise VenueError("The chain could not be read right now; nothing was sent. Try again shortly.",
                         "chain_unavailable") from None


def _pending_sol(**filters) -> int:
    return int(Order.objects.filter(side=OrderSide.WITHDRAW, position__isnull=True, status__in=ORDER_IN_FLIGHT,
                                    **filters).aggregate(total=Sum("amount_in"))["total"] or 0)


def _fee_estimate(prefs: TradingSettings, mode: str) -> int:
    return PAPER_TRANSFER_FEE_LAMPORTS if mode == Mode.PAPER else NETWORK_FEE_LAMPORTS + prefs.priority_fee_max_lamports


def _cap(trader: Trader, prefs: TradingSettings) -> tuple[int, int]:
    """(today's cap, already used today) in lamports."""
    day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    used = Order.objects.filter(trader=trader, side=OrderSide.WITHDRAW, created_at__gte=day).exclude(
        status=OrderStatus.FAILED).aggregate(total=Sum("value_lamports"))["total"] or 0
    used = int(used)
    return prefs.withdraw_daily_cap_lamports or settings.WITHDRAW_DAILY_CAP_LAMPORTS, used


def _allowed(trader: Trader, destination: str) -> None:
    listed = list(WithdrawAddress.objects.filter(trader=trader))
    if not listed:
        return
    entry = next((a for a in listed if a.address == destination), None)
    if entry is None:
        raise InvalidInput("That address is not on your withdrawal allow-list; add it with /allowlist add (it can "
                           "receive once its cool-down has passed).", "not_allowed")
    if entry.usable_at > timezone.now():
        raise InvalidInput(f"That address was added to your allow-list recently; it can receive from "
                           f"{entry.usable_at:%Y-%m-%d %H:%M} UTC.", "cooling_down")


def _token_value(position: Position, amount: int) -> int:
    point = price_fresh(mint=position.token.mint)
    price = point.price if point is not None else (position.entry_price or Decimal(0))
    return int(Decimal(amount) / (Decimal(10) ** position.token.decimals) * price * LAMPORTS_PER_SOL)


def withdrawal_preview(*, trader: Trader, asset: str, amount_text: str | None = None, amount: int | None = None,
                       destination: str) -> WithdrawalPreview:
    """Everything a withdrawal would do, checked; refuses with a sentence (nothing written, nothing sent)."""
    prefs = trading_settings_get(trader=trader)
    mode = prefs.mode
    destination, off_curve = address_parse(destination)
    fee = _fee_estimate(prefs, mode)
    position = None
    if str(asset) != SOL:
        position = (Position.objects.select_related("token", "wallet")
                    .filter(id=int(asset) if str(asset).isdigit() else 0, trader=trader).first())
        if position is None or position.status != PositionStatus.OPEN or position.size <= 0:
            raise NotFound("You hold no such token to withdraw; /withdraw lists what you hold.", "position_not_found")
        mode = position.mode
    if mode not in (Mode.PAPER, settings.TRADING_MODE):
        raise InvalidInput(f"This desk runs in {settings.TRADING_MODE} mode, so {mode} funds cannot move now.",
                           "mode_not_allowed")
    wallet = None if mode == Mode.PAPER else (position.wallet if position else _active_wallet(trader))
    if mode != Mode.PAPER and wallet is None:
        raise InvalidInput("That holding has no wallet on record, so it cannot be sent from here.", "no_wallet")
    if wallet is not None and destination == wallet.public_key:
        raise InvalidInput("That is the wallet the funds are in; give the address you want them sent to.", "self")
    if mode == Mode.PAPER:
        sol = int(paper_balance(trader=trader)) - _pending_sol(trader=trader, mode=Mode.PAPER)
    else:
        sol = onchain_balance(wallet=wallet)
        sol -= _pending_sol(wallet=wallet)
    rent = 0
    if position is None:
        symbol, decimals, available = "SOL", 9, max(0, sol - fee)
    else:
        symbol, decimals, available = position.token.symbol or position.token.mint[:6], position.token.decimals, position.size
        if mode != Mode.PAPER:
            rent = _token_account_rent(destination=destination, position=position)
    if amount is None:
        amount = amount_parse(amount_text or "", available=available, decimals=decimals, symbol=symbol)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("The amount must be more than zero.", "not_positive")
    if position is None and amount > available:
        raise InsufficientBalance(f"You can withdraw at most {_units(available, 9)} SOL: your balance less the fees "
                                  f"({_units(fee, 9)} SOL at most).", "insufficient_balance")
    if position is not None and amount > position.size:
        raise InsufficientBalance(f"You hold {_units(position.size, decimals)} {symbol}, less than that.",
                                  "insufficient_balance")
    if position is not None and sol < fee + rent:
        raise InsufficientBalance(f"Sending a token costs up to {_units(fee + rent, 9)} SOL in fees and rent, more than "
                                  f"the {_units(max(sol, 0), 9)} SOL you have.", "insufficient_balance")
    if position is None and mode != Mode.PAPER and amount < SYSTEM_ACCOUNT_RENT:
        exists = _rpc_read(rpc_client().accounts, [destination])[0] is not None
        if not exists:
            raise InvalidInput(f"That address holds nothing yet, and a new account needs at least "
                               f"{_units(SYSTEM_ACCOUNT_RENT, 9)} SOL to exist; send at least that much.", "below_rent")
    value = amount if position is None else _token_value(position, amount)
    _allowed(trader, destination)
    cap, used = _cap(trader, prefs)
    if used + value > cap:
        raise InvalidInput(f"That is over your daily withdrawal cap: {_units(max(cap - used, 0), 9)} SOL of "
                           f"{_units(cap, 9)} SOL is left today (UTC).", "over_cap")
    remaining_sol = sol - fee - rent - (amount if position is None else 0)
    return WithdrawalPreview(
        asset=SOL if position is None else str(position.id), symbol=symbol, decimals=decimals, amount=amount,
        destination=destination, off_curve=off_curve, fee_lamports=fee, rent_lamports=rent,
        remaining=remaining_sol if position is None else position.size - amount, remaining_sol=remaining_sol,
        value_lamports=value, cap_left_lamports=cap - used - value, mode=mode,
        needs_code=second_factor_enabled(trader=trader),
    )


def _token_account_rent(*, destination: str, position: Position) -> int:
    """The rent of the recipient's associated token account if it has none yet (the withdrawal creates it)."""
    token = position.token
    account = associated_token_address(owner=destination, mint=token.mint, program=token.token_program)
    rpc = rpc_client()
    if _rpc_read(rpc.accounts, [account])[0] is not None:
        return 0
    size = TOKEN_ACCOUNT_SIZES.get(token.token_program, 165)
    return int(_rpc_read(rpc.call, "getMinimumBalanceForRentExemption", [size]))


def _units(amount: int, decimals: int) -> str:
    text = f"{Decimal(amount) / (Decimal(10) ** decimals):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def withdrawal_place(*, trader: Trader, asset: str, amount: int, destination: str, code: str | None = None) -> Order:
    """Check the withdrawal again, spend the second-factor code (when on), then write its order and queue it on
    commit. The cap is counted under the trader's row lock, so two withdrawals cannot both pass it."""
    preview = withdrawal_preview(trader=trader, asset=asset, amount=amount, destination=destination)
    second_factor_check(trader=trader, code=code)
    prefs = trading_settings_get(trader=trader)
    with transaction.atomic():
        Trader.objects.select_for_update().filter(id=trader.id).first()  # one withdrawal of a trader at a time
        cap, used = _cap(trader, prefs)
        if used + preview.value_lamports > cap:
            raise InvalidInput("That is over your daily withdrawal cap; nothing was sent.", "over_cap")
        position = None
        if preview.asset != SOL:
            position = Position.objects.select_for_update(of=("self",)).select_related("wallet").get(id=int(asset))
            busy = Order.objects.filter(position=position, side__in=[OrderSide.SELL, OrderSide.WITHDRAW],
                                        status__in=ORDER_IN_FLIGHT).exists()
            if busy or position.status != PositionStatus.OPEN or amount > position.size:
                raise Conflict("A sell or withdrawal of that holding is under way; try again once it is done.",
                               "exit_in_flight")
            position.status = PositionStatus.CLOSING  # no exit claims it while the tokens leave
            position.save(update_fields=["status", "updated_at"])
        wallet = None if preview.mode == Mode.PAPER else (position.wallet if position else _active_wallet(trader))
        order = order_build(position=position, side=OrderSide.WITHDRAW, reason="manual", amount=amount, prefs=prefs,
                            withdrawal={"trader": trader, "mode": preview.mode, "wallet": wallet,
                                        "destination": preview.destination, "value_lamports": preview.value_lamports})
        order.save(force_insert=True)
        order_enqueue(order_id=order.id)
    logger.warning("withdrawal %s placed by trader %s: %s %s to %s", order.id, trader.pk, amount, preview.symbol,
                   preview.destination)
    return order


# --- the allow-list and the cap -----------------------------------------------------------------------------------
def withdraw_addresses(*, trader: Trader) -> list[WithdrawAddress]:
    return list(WithdrawAddress.objects.filter(trader=trader))


def withdraw_address_add(*, trader: Trader, address: str, label: str = "", code: str | None = None) -> WithdrawAddress:
    """Add an address to the allow-list; it can receive once WITHDRAW_ALLOWLIST_COOLDOWN_SECONDS have passed."""
    address, _ = address_parse(address)
    if WithdrawAddress.objects.filter(trader=trader, address=address).exists():
        raise Conflict("That address is already on your allow-list.", "already_listed")
    second_factor_check(trader=trader, code=code)
    now = timezone.now()
    try:
        with transaction.atomic():
            return WithdrawAddress.objects.create(
                trader=trader, address=address, label=" ".join(str(label).split())[:32],
                usable_at=now + timedelta(seconds=settings.WITHDRAW_ALLOWLIST_COOLDOWN_SECONDS))
    except IntegrityError:
        raise Conflict("That address is already on your allow-list.", "already_listed") from None


def withdraw_address_remove(*, trader: Trader, address: str, code: str | None = None) -> None:
    address, _ = address_parse(address)
    if not WithdrawAddress.objects.filter(trader=trader, address=address).exists():
        raise NotFound("That address is not on your allow-list.", "not_listed")
    second_factor_check(trader=trader, code=code)
    WithdrawAddress.objects.filter(trader=trader, address=address).delete()


def withdraw_cap_set(*, trader: Trader, text: str, code: str | None = None) -> int:
    """Set the trader's daily cap from SOL typed ("25"); returns it in lamports."""
    value = plain_decimal(text, what="a daily cap in SOL", example="25")
    lamports = value * LAMPORTS_PER_SOL
    if lamports != lamports.to_integral_value() or not 0 < lamports <= 10**6 * LAMPORTS_PER_SOL:
        raise InvalidInput("A daily cap is more than 0 and at most 1000000 SOL, with at most 9 decimals.", "bad_cap")
    second_factor_check(trader=trader, code=code)
    trading_settings_get(trader=trader)  # the row, made with its defaults if missing
    TradingSettings.objects.filter(trader=trader).update(withdraw_daily_cap_lamports=int(lamports),
                                                         updated_at=timezone.now())
    return int(lamports)


def withdraw_cap_get(*, trader: Trader) -> tuple[int, int]:
    """(today's cap, used today) in lamports."""
    return _cap(trader, trading_settings_get(trader=trader))
