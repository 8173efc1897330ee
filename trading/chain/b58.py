"""Base58 (the Bitcoin alphabet Solana uses) of whole transactions: decoding, fast, and encoding.

The base58 package decodes digit by digit, each step a big-integer multiply by 58: about 3 ms of CPU for a swap
transaction, on every order that bags.fm (which answers in base58) builds. Splitting the digits in halves and joining
them with one multiply by a power of 58 does the same arithmetic in a few dozen big-integer steps.
"""

from __future__ import annotations

from functools import lru_cache

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(ALPHABET)}
_LEAF = 24  # digits summed by a plain loop


def b58decode(text: str | bytes) -> bytes:
    """The bytes of base58 `text`; each leading "1" is a zero byte. ValueError on a character outside the alphabet."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    text = text.rstrip()
    try:
        digits = [_INDEX[char] for char in text]
    except KeyError as exc:
        raise ValueError(f"Invalid character {exc.args[0]!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    value = _value(digits, 0, len(digits))
    return b"\0" * zeros + value.to_bytes((value.bit_length() + 7) // 8, "big")


def _value(digits: list[int], start: int, end: int) -> int:
    if end - start <= _LEAF:
        value = 0
        for digit in digits[start:end]:
            value = value * 58 + digit
        return value
    middle = (start + end) // 2
    return _value(digits, start, middle) * _power(end - middle) + _value(digits, middle, end)


@lru_cache(maxsize=256)
def _power(exponent: int) -> int:
    return 58**exponent


def b58encode(raw: bytes) -> str:
    """Base58 text of `raw` (each leading zero byte a "1"): a bundle sends a handful of transactions, rarely."""
    value = int.from_bytes(raw, "big")
    out = []
    while value:
        value, digit = divmod(value, 58)
        out.append(ALPHABET[digit])
    zeros = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))
