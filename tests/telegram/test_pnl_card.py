"""PnL cards: the card's lines carry the trading core's figures (trading.selectors.position_realised_pnl and
pnl_period), drawn as a PNG with Pillow and sent through the bot with sendPhoto (the Bot API stand-in)."""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
from PIL import Image

from telegram_app.pnl_card import card_png, period_card_lines, position_card_lines
from trading.prices import sol_usd_store
from trading.selectors import pnl_period, position_realised_pnl
from trading.services import position_apply_fill, position_open, position_sell

SOL = 10**9


def _closed_position(trader, price_standin, *, sells):
    """Bought 1,000 tokens for 0.1 SOL, then sold (percent, lamports received) by the real fill code."""
    from tests.fixtures.trading import mint_address

    mint = mint_address()
    price_standin.set(mint, "0.0001")
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    position_apply_fill(order_id=position.orders.get().id, in_amount=SOL // 10, out_amount=1000 * 10**6,
                        price=Decimal("0.0001"), fee_lamports=0)
    for percent, received in sells:
        position.refresh_from_db()
        sell = position_sell(trader=trader, position_id=position.id, percent=Decimal(percent))
        position_apply_fill(order_id=sell.id, in_amount=sell.amount_in, out_amount=received,
                            price=Decimal(received) / sell.amount_in * 1000, fee_lamports=0)
    position.refresh_from_db()
    return position


@pytest.mark.django_db
def test_card_lines_carry_the_core_figures_gain_and_loss_with_and_without_usd(trader, price_standin, redis_client):
    won = _closed_position(trader, price_standin, sells=[(60, 9 * SOL // 100), (100, 7 * SOL // 100)])
    assert won.status == "closed"
    redis_client.delete("jarvis:price:sol-usd")
    figures = position_realised_pnl(position=won)
    assert (figures["pnl_lamports"], figures["pnl_pct"], figures["pnl_usd"]) == (6 * SOL // 100, Decimal(60), None)
    card = position_card_lines(symbol=won.token.symbol, mint=won.token.mint, mode=won.mode, figures=figures)
    text = [line.text for line in card.lines]
    assert text[2] == "+60.00%" and text[3] == "+0.06 SOL"  # no SOL price: no dollars, never a guess
    assert text[4] == "Entry 0.0001 SOL  →  Exit 0.00016 SOL" and text[5] == "Cost 0.1 SOL  →  received 0.16 SOL"
    assert won.token.mint[:4] in text[1] and won.token.mint not in " ".join(text)  # the mint shortened
    assert str(won.wallet.public_key if won.wallet else "no wallet") not in " ".join(text) + card.caption
    assert text[6].startswith(won.opened_at.strftime("%Y-%m-%d %H:%M")) and card.gain

    sol_usd_store(price=Decimal("150"), at=time.time())
    lost = _closed_position(trader, price_standin, sells=[(100, 4 * SOL // 100)])
    card = position_card_lines(symbol="WIF", mint=lost.token.mint, mode="paper",
                               figures=position_realised_pnl(position=lost))
    assert [line.text for line in card.lines][2:4] == ["-60.00%", "-0.06 SOL  ·  -$9.00"] and not card.gain
    assert "-60.00%, -0.06 SOL, -$9.00" in card.caption

    today = pnl_period(trader=trader, period="today")
    assert (today["pnl_lamports"], today["cost_lamports"], today["proceeds_lamports"], today["sells"],
            today["closed_positions"]) == (0, 2 * SOL // 10, 2 * SOL // 10, 3, 2)
    now = datetime(2026, 12, 9, 12, 0, tzinfo=dt_timezone.utc)
    card = period_card_lines(period="today", figures=today, now=now)
    assert [line.text for line in card.lines][1:5] == ["Today  ·  all tokens", "0.00%", "0 SOL  ·  $0.00",
                                                     "3 sells  ·  2 positions closed"]

    png = card_png(card)
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", (1200, 630))
    assert 5_000 < len(png) < 500_000


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("quick_chats")
def test_a_closed_position_and_a_period_send_their_card_through_the_bot(tg_user, price_standin, redis_client,
                                                                        celery_worker):
    """A paper buy and sell filled by the real worker; the card's figures are the closed position's."""
    from tests.conftest import wait_for
    from tests.fixtures.trading import mint_address
    from telegram_app.models import TelegramAccount
    from telegram_app.pnl_card import signed_percent, signed_sol, signed_usd
    from trading.models import Position

    alice = tg_user(2301)
    alice.send("/start")
    trader = TelegramAccount.objects.get(telegram_user_id=2301).trader
    sol_usd_store(price=Decimal("150"), at=time.time())
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    wait_for(lambda: Position.objects.get(pk=position.pk).status == "open", timeout=30, message="the buy filled")
    price_standin.set(mint, "0.000125")
    position_sell(trader=trader, position_id=position.pk, percent=Decimal(100))
    wait_for(lambda: Position.objects.get(pk=position.pk).status == "closed", timeout=30, message="the sell filled")
    position.refresh_from_db()
    r = position_realised_pnl(position=position)
    sells = position.orders.filter(side="sell")
    assert r["pnl_lamports"] == position.realised_pnl_lamports == sum(o.realised_pnl_lamports for o in sells)
    assert r["pnl_pct"] == Decimal(r["pnl_lamports"]) * 100 / (position.proceeds_lamports - r["pnl_lamports"])
    figures = f"{signed_percent(r['pnl_pct'])}, {signed_sol(r['pnl_lamports'])}, {signed_usd(r['pnl_usd'])}"

    def closed_message():  # the fills' messages, sent by the worker through the outbox
        return next((m for m in alice.standin.bot_messages(2301) if m.get("text", "").startswith("🏁")), None)

    closed = wait_for(closed_message, timeout=30, message="the position-closed message")
    assert alice.press("Share card", message_id=closed["message_id"])["answer"]["text"] == "Card sent: forward it to share."
    sent = alice.standin.log(2301, "sendPhoto")
    assert len(sent) == 1 and figures in sent[0]["caption"]
    png = alice.standin.photo(sent[0]["file_id"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 5_000 < len(png) < 500_000
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
    assert (sent[0]["width"], sent[0]["height"]) == (1200, 630)

    assert "Recently closed" in alice.send("/pnl")["text"]
    assert f"Realised PnL: {figures}" in alice.press(f"#{position.pk} ")["message"]["text"]
    alice.press("Share card")  # the closed position's screen: the same card
    cards = alice.standin.log(2301, "sendPhoto")
    assert len(cards) == 2 and cards[1]["caption"] == sent[0]["caption"]

    alice.send("/pnl")
    alice.press("week")
    cards = alice.standin.log(2301, "sendPhoto")
    assert len(cards) == 3 and cards[2]["caption"].startswith(f"This week: {figures}")
