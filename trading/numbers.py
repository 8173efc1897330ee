"""The one strict reading of a number a person typed: ASCII digits and at most one decimal point, nothing else.

Every parser of amounts, percents and exit-plan triggers goes through `plain_decimal`, so a form one of them
refuses none of them reads. What a reader could take two ways is refused with a sentence that shows the accepted
form: other scripts' digits (Python's `Decimal("١٢")` is 12), mathematical or full-width digits, spaces, commas and
underscores inside the number (`1 000`, `1,000`, `1,5`, `1_000`), exponents, `nan`, `inf` and signs (`-0`, `+1`).
Pure: no I/O, no Django, so the models' own modules can use it.
"""

from __future__ import annotations

import re
from decimal import Decimal

from trading.errors import InvalidInput

PLAIN = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")  # ASCII only: not \d, which takes every script's digits
MAX_CHARS = 40


def plain_decimal(text: str, *, what: str, example: str) -> Decimal:
    """`text` (surrounding spaces allowed) as a Decimal, or InvalidInput with one sentence and a stable code:
    empty, not_ascii, separator, exponent, sign or not_a_number."""
    raw = text.strip() if isinstance(text, str) else ""
    form = f"Send {what} with the digits 0-9 and at most one dot, like {example}"
    if not raw:
        raise InvalidInput(f"Please send {what}, for example {example}.", "empty")
    if PLAIN.fullmatch(raw) and len(raw) <= MAX_CHARS:
        return Decimal(raw)
    shown = raw[:20]
    if len(raw) > MAX_CHARS:
        code, why = "not_a_number", "is far too long to be an amount"
    elif not raw.isascii():
        code, why = "not_ascii", "has characters other than the digits 0-9 (other scripts' digits are not read)"
    elif re.search(r"[0-9][ ,_'][0-9]", raw):
        code, why = "separator", "has a space, comma or underscore inside; write no separators, and a dot for decimals"
    elif re.fullmatch(r"[+-]?[0-9.]+[eE][+-]?[0-9]+", raw):
        code, why = "exponent", "has an exponent; write the number out in full"
    elif raw[0] in "+-":
        code, why = "sign", "has a sign; write the number alone"
    else:
        code, why = "not_a_number", "is not a number"
    raise InvalidInput(f"'{shown}' {why}. {form}.", code)
