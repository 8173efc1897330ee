"""PnL cards: the picture of a closed position's or a period's result that traders share, a PNG drawn with Pillow.

Two steps, so the figures can be checked apart from the drawing: `position_card_lines` / `period_card_lines` turn the
trading core's figures (trading.selectors.position_realised_pnl / pnl_period, the one PnL computation) into the card's
lines, and `card_png` draws lines. A card shows the token (its symbol and a shortened mint, never a wallet), entry and
exit, PnL in percent, SOL and USD (when SOL's USD price is known), and the period; nothing secret is on it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from telegram_app.parsers import format_sol

WIDTH, HEIGHT = 1200, 630  # the 1.91:1 of link previews: shows whole in a chat
MARGIN = 64
BACKGROUND = (17, 20, 28)
TEXT = (236, 239, 244)
MUTED = (140, 148, 166)
GAIN = (46, 204, 113)
LOSS = (235, 77, 75)
# role -> (font size, bold, colour or None for the PnL's sign colour)
ROLES = {"brand": (30, True, MUTED), "title": (58, True, TEXT), "pnl": (120, True, None), "sol": (46, True, None),
         "detail": (32, False, TEXT), "period": (28, False, MUTED)}
PERIOD_NAMES = {"today": "Today", "week": "This week", "all": "All time"}


@dataclass(frozen=True)
class Line:
    text: str
    role: str  # a key of ROLES


@dataclass(frozen=True)
class Card:
    lines: tuple[Line, ...]
    gain: bool  # colours the PnL lines and the edge: green for a gain (or even), red for a loss
    caption: str  # the message text under the picture: the same figures, for whoever cannot see it


def signed_percent(pct: Decimal | None) -> str:
    if pct is None:
        return "n/a"
    value = Decimal(pct).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{'+' if value > 0 else ''}{value}%"


def signed_sol(lamports: int) -> str:
    return f"{'+' if lamports > 0 else ''}{format_sol(lamports)} SOL"


def signed_usd(usd: Decimal | None) -> str | None:
    if usd is None:
        return None
    return f"{'+' if usd > 0 else '-' if usd < 0 else ''}${abs(usd):,.2f}"


def _price(value) -> str:
    return "—" if value is None else f"{Decimal(value).normalize():.6g} SOL"


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _held(opened: datetime | None, closed: datetime | None) -> str:
    if opened is None or closed is None:
        return ""
    minutes = max(0, int((closed - opened).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return f" ({days}d {hours}h)" if days else f" ({hours}h {minutes}m)" if hours else f" ({minutes}m)"


def short_mint(mint: str) -> str:
    return f"{mint[:4]}…{mint[-4:]}" if len(mint) > 12 else mint


def _pnl_lines(figures: dict) -> list[Line]:
    usd = signed_usd(figures["pnl_usd"])
    money = signed_sol(figures["pnl_lamports"]) + (f"  ·  {usd}" if usd else "")
    return [Line(signed_percent(figures["pnl_pct"]), "pnl"), Line(money, "sol")]


def position_card_lines(*, symbol: str, mint: str, mode: str, figures: dict) -> Card:
    """A position's card from `trading.selectors.position_realised_pnl` figures."""
    name = symbol or short_mint(mint)
    lines = [Line(f"JARVIS  ·  {mode.upper()}", "brand"), Line(f"${name}  ·  {short_mint(mint)}", "title"),
             *_pnl_lines(figures),
             Line(f"Entry {_price(figures['entry_price'])}  →  Exit {_price(figures['exit_price'])}", "detail"),
             Line(f"Cost {format_sol(figures['cost_lamports'])} SOL  →  received "
                  f"{format_sol(figures['proceeds_lamports'])} SOL", "detail"),
             Line(f"{_when(figures['opened_at'])} → {_when(figures['closed_at'])} UTC"
                  f"{_held(figures['opened_at'], figures['closed_at'])}", "period")]
    caption = (f"{name}: {signed_percent(figures['pnl_pct'])}, {lines[3].text.replace('  ·  ', ', ')}. "
               f"{lines[4].text.replace('  ', ' ')}. {lines[6].text}")
    return Card(tuple(lines), figures["pnl_lamports"] >= 0, caption)


def period_card_lines(*, period: str, figures: dict, now: datetime) -> Card:
    """A /pnl period's card from `trading.selectors.pnl_period` figures."""
    title = PERIOD_NAMES[period]
    start = figures["start"]
    span = f"{_when(start)} → {_when(now)} UTC" if start is not None else f"All trades up to {_when(now)} UTC"
    lines = [Line("JARVIS  ·  REALISED PNL", "brand"), Line(f"{title}  ·  all tokens", "title"), *_pnl_lines(figures),
             Line(f"{figures['sells']} sells  ·  {figures['closed_positions']} positions closed", "detail"),
             Line(f"Cost {format_sol(figures['cost_lamports'])} SOL  →  received "
                  f"{format_sol(figures['proceeds_lamports'])} SOL", "detail"),
             Line(span, "period")]
    caption = (f"{title}: {signed_percent(figures['pnl_pct'])}, {lines[3].text.replace('  ·  ', ', ')}. "
               f"{lines[4].text.replace('  ·  ', ', ')}. {span}")
    return Card(tuple(lines), figures["pnl_lamports"] >= 0, caption)


@lru_cache(maxsize=16)
def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where the system has it (Pillow looks in the usual font folders), else Pillow's own font."""
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, bold: bool):
    """The font for `text` at `size`, smaller if needed so the line stays inside the margins."""
    while True:
        font = _font(size, bold)
        if size <= 14 or draw.textlength(text, font=font) <= WIDTH - 2 * MARGIN:
            return font
        size -= 4


def card_png(card: Card) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    sign = GAIN if card.gain else LOSS
    draw.rectangle((0, 0, 12, HEIGHT), fill=sign)
    y = MARGIN - 8
    for line in card.lines:
        size, bold, colour = ROLES[line.role]
        font = _fit(draw, line.text, size, bold)
        draw.text((MARGIN, y), line.text, font=font, fill=colour or sign)
        y += int(size * 1.3) + (16 if line.role in ("title", "sol") else 0)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
