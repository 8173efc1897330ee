"""Pure input checks for amounts, percentages and mints: no I/O, so they can be tested by the thousand."""

from __future__ import annotations

import re
from decimal import Decimal

from solders.pubkey import Pubkey

from trading.errors import InvalidInput
from trading.models.choices import LAMPORTS_PER_SOL, SOL_MINT
from trading.numbers import plain_decimal

MIN_TRADE_LAMPORTS = 1_000_000  # 0.001 SOL: below this, fees eat the trade
ABSURD_TRADE_LAMPORTS = 1_000_000 * LAMPORTS_PER_SOL  # a million SOL is a typo, whatever the limits say
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")


def _plain(text: str, *, what: str, example: str, code: str) -> Decimal:
    """trading.numbers' strict reading, refused under this API's stable code (the sentence says what was wrong)."""
    try:
        return plain_decimal(text, what=what, example=example)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code) from None


def sol_to_lamports(text: str | int | Decimal) -> int:
    """Parse a SOL amount a trader typed ("0.5", "1 SOL") into lamports; refuses anything else (trading.numbers)."""
    if isinstance(text, bool) or isinstance(text, float):
        raise InvalidInput("Give the amount as a number of SOL, like 0.5.", "invalid_amount")
    if isinstance(text, int):
        value = Decimal(text)
    elif isinstance(text, Decimal):
        value = text
        if not value.is_finite() or value.is_signed():
            raise InvalidInput("Give the amount as a number of SOL, like 0.5.", "invalid_amount")
    else:
        raw = str(text).strip()
        if raw[-3:].lower() == "sol":
            raw = raw[:-3]
        value = _plain(raw, what="an amount of SOL", example="0.5", code="invalid_amount")
    lamports = value * LAMPORTS_PER_SOL
    if lamports != lamports.to_integral_value():
        raise InvalidInput("SOL amounts have at most 9 decimal places.", "invalid_amount")
    return amount_validate(int(lamports))


def amount_validate(amount_lamports) -> int:
    """A buy amount in lamports: a positive integer between the minimum trade and an absurdity bound."""
    if isinstance(amount_lamports, bool) or not isinstance(amount_lamports, int):
        raise InvalidInput("The amount must be a whole number of lamports.", "invalid_amount")
    if amount_lamports <= 0:
        raise InvalidInput("The amount must be more than zero.", "invalid_amount")
    if amount_lamports < MIN_TRADE_LAMPORTS:
        raise InvalidInput("The smallest trade is 0.001 SOL.", "amount_too_small")
    if amount_lamports > ABSURD_TRADE_LAMPORTS:
        raise InvalidInput("That amount is far too large to be meant; check the number of digits.", "amount_absurd")
    return amount_lamports


def percent_validate(percent) -> Decimal:
    """A sell percentage: a number above 0 and at most 100 (text read by trading.numbers, "25%" allowed)."""
    if isinstance(percent, (bool, float)):
        raise InvalidInput("Give the percentage to sell as a number from 1 to 100.", "invalid_percent")
    if isinstance(percent, (int, Decimal)):
        value = Decimal(percent)
    else:
        raw = str(percent).strip()
        value = _plain(raw[:-1] if raw.endswith("%") else raw, what="the percentage to sell", example="25",
                       code="invalid_percent")
    if not value.is_finite() or not 0 < value <= 100:
        raise InvalidInput("You can sell more than 0% and at most 100% of a position.", "invalid_percent")
    return value


def mint_validate(mint) -> str:
    """A well-formed mint address (base58, 32 bytes), not SOL itself."""
    if not isinstance(mint, str) or not _BASE58.match(mint.strip()):
        raise InvalidInput("That is not a token address: a mint is 32 to 44 base58 characters.", "invalid_mint")
    mint = mint.strip()
    try:
        if str(Pubkey.from_string(mint)) != mint:
            raise ValueError(mint)
    except ValueError:
        raise InvalidInput("That is not a token address: it does not decode to 32 bytes.", "invalid_mint") from None
    if mint == SOL_MINT:
        raise InvalidInput("That is SOL itself; give the address of the token you want to buy.", "invalid_mint")
    return mint


def slippage_validate(slippage_bps) -> int:
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 1 <= slippage_bps <= 5000:
        raise InvalidInput("Slippage must be between 0.01% and 50% (1 to 5000 basis points).", "invalid_slippage")
    return slippage_bps
