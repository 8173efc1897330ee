"""Pure parsers for what traders type: amounts, percents, mint addresses (pasted secrets: jarvis.redact).

No I/O here. Every refusal is a `ParseError` whose message is one plain sentence saying what was
wrong and what to do, so a handler can reply with it as is.
"""

from __future__ import annotations

import re
from decimal import Decimal

import base58

from trading.errors import InvalidInput
from trading.numbers import plain_decimal

LAMPORTS_PER_SOL = 1_000_000_000
SOL_DECIMALS = 9
MAX_ORDER_SOL = Decimal("100000")  # a sanity bound; the trading risk limits are far tighter
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")


class ParseError(ValueError):
    def __init__(self, message: str, code: str = "invalid_input"):
        super().__init__(message)
        self.message = message
        self.code = code


def _number(text: str, *, what: str, example: str) -> Decimal:
    """The one strict reading (trading.numbers.plain_decimal), refused as a ParseError."""
    try:
        return plain_decimal(text or "", what=what, example=example)
    except InvalidInput as exc:
        raise ParseError(exc.message, exc.code) from None


def parse_sol_amount(text: str, *, maximum: Decimal = MAX_ORDER_SOL) -> int:
    """'0.5', '.5', '2 SOL' -> lamports (int). Refuses anything but ASCII digits and one dot (commas, spaces, other
    scripts' digits, exponents, signs), zero, too many decimals, huge values."""
    raw = (text or "").strip()
    if raw.lower().endswith("sol"):
        raw = raw[:-3]
    value = _number(raw, what="an amount of SOL", example="0.5")
    if value <= 0:
        raise ParseError("The amount must be more than zero. Send an amount of SOL like 0.5.", "not_positive")
    if value > maximum:
        raise ParseError(f"That is more than a single order may use (at most {maximum} SOL). Send a smaller amount.", "too_large")
    if -value.as_tuple().exponent > SOL_DECIMALS:
        raise ParseError("SOL has at most 9 decimal places. Send a shorter amount like 0.123456789.", "too_precise")
    return int(value * LAMPORTS_PER_SOL)


def parse_percent(text: str, *, minimum: Decimal = Decimal("0"), maximum: Decimal = Decimal("100")) -> Decimal:
    """'25', '25%', '12.5' -> Decimal('25'). Strictly above `minimum`, at most `maximum`."""
    raw = (text or "").strip()
    if raw.endswith("%"):
        raw = raw[:-1]
    value = _number(raw, what="a percent", example="25")
    if value <= minimum:
        raise ParseError(f"The percent must be more than {minimum}. Send a number like 25.", "too_small")
    if value > maximum:
        raise ParseError(f"The percent must be at most {maximum}. Send a number like 25.", "too_large")
    if -value.as_tuple().exponent > 2:
        raise ParseError("Use at most two decimal places, like 12.5.", "too_precise")
    # Plain digits (25, 12.5), never an exponent form: Decimal("100").normalize() would print as "1E+2".
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'90s', '30m', '4h', '7d' -> seconds (a whole number with one unit)."""
    raw = (text or "").strip().lower()
    unit = raw[-1:] if raw[-1:] in _UNITS else ""
    if not unit:
        raise ParseError("Give a duration as a whole number and a unit, like 30m, 4h or 7d.", "bad_duration")
    value = _number(raw[:-1], what="a duration", example="4h")
    if value != value.to_integral_value() or value <= 0:
        raise ParseError("Give a duration as a whole number above zero and a unit, like 30m, 4h or 7d.", "bad_duration")
    if value > 10**6:
        raise ParseError("That duration is far too long to be meant.", "bad_duration")
    return int(value) * _UNITS[unit]


def parse_mint(text: str) -> str:
    """A Solana address: base58 of exactly 32 bytes. Returns it unchanged (stripped)."""
    raw = (text or "").strip()
    if not raw:
        raise ParseError("Please send a token mint address.", "empty")
    if not _BASE58.match(raw):
        raise ParseError("That is not a Solana address (it has characters base58 does not use). Copy the mint address again.", "bad_chars")
    decoded = base58.b58decode(raw)
    if len(decoded) == 64:
        raise ParseError("That looks like a private key, not a token address. Never paste keys here.", "secret_key")
    if len(decoded) < 32:
        raise ParseError("That address is too short; it looks truncated. Copy the whole mint address again.", "truncated")
    if len(decoded) > 32:
        raise ParseError("That address is too long for a Solana address. Copy the mint address again.", "too_long")
    return raw


def looks_like_mint(text: str) -> bool:
    raw = (text or "").strip()
    return 32 <= len(raw) <= 44 and bool(_BASE58.match(raw))


def format_sol(lamports: int) -> str:
    """Lamports -> '1.5' (no float), trailing zeros trimmed."""
    sign = "-" if lamports < 0 else ""
    whole, frac = divmod(abs(int(lamports)), LAMPORTS_PER_SOL)
    text = f"{whole}.{frac:09d}".rstrip("0").rstrip(".")
    return f"{sign}{text}"
