"""The token safety card as a trader reads it, and the critical risks a signed accept button carries."""

from __future__ import annotations

from decimal import Decimal

from telegram_app.parsers import ParseError
from trading.safety import CRITICAL, TokenSafety

UNCHECKED = {"mint": "mint account", "holders": "holders", "sellable": "sell route", "shield": "Jupiter warnings",
             "price": "price"}


def _usd(value: Decimal | None) -> str:
    if value is None:
        return "unknown"
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K")):
        if value >= size:
            return f"${value / size:.2f}{suffix}"
    return f"${value:.2f}"


def _who(key: str | None) -> str:
    return "none" if key is None else f"{key[:4]}…{key[-4:]}"


def safety_lines(safety: TokenSafety) -> str:
    facts, price = safety.facts, safety.price
    lines = [f"Liquidity: {_usd(price.liquidity_usd if price else None)}  Market cap: {_usd(safety.market_cap_usd)}"]
    lines.append("Top 10 holders: " + ("unknown" if safety.top10_pct is None else f"{safety.top10_pct:.1f}%"))
    if facts is not None:
        lines.append(f"Mint authority: {_who(facts.mint_authority)}  Freeze authority: {_who(facts.freeze_authority)}")
        program = "Token-2022" if facts.program.startswith("Tokenz") else "SPL Token"
        lines.append(f"Program: {program}")
    lines.append("Sellable: " + {True: "yes (a venue quotes a sell)", False: "NO", None: "unknown"}[safety.sellable])
    for finding in safety.findings:
        lines.append(f"{'⛔' if finding.critical else '⚠️'} {finding.sentence}")
    if safety.shield:
        lines.append("Jupiter: " + "; ".join(f"{message} ({severity})" for _, message, severity in safety.shield))
    if safety.unchecked:
        lines.append("Not checked just now: " + ", ".join(UNCHECKED.get(u, u) for u in safety.unchecked))
    if not any(f.critical for f in safety.findings) and not safety.unchecked and safety.sellable is not None:
        lines.append("✅ No critical risk found.")
    return "\n".join(lines)


def accepted_mask(codes) -> int:
    return sum(1 << CRITICAL.index(c) for c in codes if c in CRITICAL)


def accepted_from_mask(mask) -> tuple[str, ...]:
    text = str(mask)
    if not text.isascii() or not text.isdigit() or int(text) >= 1 << len(CRITICAL):
        raise ParseError("That button is not one of mine. Send the command again.", "malformed")
    value = int(text)
    return tuple(code for i, code in enumerate(CRITICAL) if value & (1 << i))
