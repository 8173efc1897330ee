"""Pure parsers for what traders type: amounts, percents, mint addresses, pasted secrets.

No I/O here. Every refusal is a `ParseError` whose message is one plain sentence saying what was
wrong and what to do, so a handler can reply with it as is.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

import base58

LAMPORTS_PER_SOL = 1_000_000_000
SOL_DECIMALS = 9
MAX_ORDER_SOL = Decimal("100000")  # a sanity bound; the trading risk limits are far tighter
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")


class ParseError(ValueError):
    def __init__(self, message: str, code: str = "invalid_input"):
        super().__init__(message)
        self.message = message
        self.code = code


def _number(text: str, *, what: str, example: str) -> Decimal:
    raw = (text or "").strip().replace(" ", "")
    if not raw:
        raise ParseError(f"Please send {what}, for example {example}.", "empty")
    if re.search(r"[eE]", raw) and re.match(r"^[+-]?[\d.,]+[eE][+-]?\d+$", raw):
        raise ParseError(f"Write {what} as a plain number like {example}, without exponents.", "exponent")
    if not _NUMBER.match(raw):
        raise ParseError(f"'{text.strip()[:20]}' is not a number. Send {what} like {example}.", "not_a_number")
    try:
        return Decimal(raw.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise ParseError(f"'{text.strip()[:20]}' is not a number. Send {what} like {example}.", "not_a_number")


def parse_sol_amount(text: str, *, maximum: Decimal = MAX_ORDER_SOL) -> int:
    """'0.5', '.5', '1,5', '2 SOL' -> lamports (int). Refuses exponents, zero, negatives, too many decimals, huge values."""
    raw = (text or "").strip()
    if raw.lower().endswith("sol"):
        raw = raw[:-3]
    value = _number(raw, what="an amount of SOL", example="0.5")
    if value <= 0:
        raise ParseError("The amount must be more than zero. Send an amount of SOL like 0.5.", "not_positive")
    if value > maximum:
        raise ParseError(f"That is more than a single order may use (at most {maximum:,} SOL). Send a smaller amount.", "too_large")
    if -value.as_tuple().exponent > SOL_DECIMALS:
        raise ParseError("SOL has at most 9 decimal places. Send a shorter amount like 0.123456789.", "too_precise")
    return int(value * LAMPORTS_PER_SOL)


def parse_percent(text: str, *, minimum: Decimal = Decimal("0"), maximum: Decimal = Decimal("100")) -> Decimal:
    """'25', '25%', '12,5' -> Decimal('25'). Strictly above `minimum`, at most `maximum`."""
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


def looks_like_secret_key(text: str) -> bool:
    """A pasted private key: base58 of 64 bytes, or a JSON array of 64 byte values (Solana CLI keypair file)."""
    raw = (text or "").strip()
    if raw.startswith("["):
        try:
            values = json.loads(raw)
        except ValueError:
            return False
        return isinstance(values, list) and len(values) == 64 and all(isinstance(v, int) and 0 <= v <= 255 for v in values)
    for word in raw.split():
        # 64 bytes are 64 to 88 base58 characters (each leading zero byte is one '1'); a mint is at most 44.
        if 64 <= len(word) <= 90 and _BASE58.match(word) and len(base58.b58decode(word)) == 64:
            return True
    return False


def format_sol(lamports: int) -> str:
    """Lamports -> '1.5' (no float), trailing zeros trimmed."""
    sign = "-" if lamports < 0 else ""
    whole, frac = divmod(abs(int(lamports)), LAMPORTS_PER_SOL)
    text = f"{whole}.{frac:09d}".rstrip("0").rstrip(".")
    return f"{sign}{text}"
