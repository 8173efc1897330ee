"""The buy preview asks the venue in sandbox (and live) mode: bags.fm's quote, Jupiter's when bags.fm is down, the
feed estimate when neither answers. Paper mode keeps the feed and the paper model."""

from __future__ import annotations

from trading.chain.rpc import SOL_MINT
from trading.models import Position
from trading.prices import prices_refresh
from trading.services import quote_preview
from trading.venues.bags import BagsVenue

AMOUNT = 200_000_000


def _bags_quote(sandbox, mint):
    venue = BagsVenue(base_url=sandbox.bags_url, api_key=sandbox.bags_api_key, timeout=5)
    return venue.quote(input_mint=SOL_MINT, output_mint=mint, amount=AMOUNT, slippage_bps=300)


def test_a_sandbox_preview_is_the_venues_quote(desk):
    token = desk.token()
    prices_refresh(mints=[token.mint])
    preview = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=AMOUNT)
    direct = _bags_quote(desk.sandbox, token.mint)  # the market does not walk in these tests: the same answer
    assert (preview.source, preview.mode) == ("bags", "sandbox")
    assert (preview.expected_tokens, preview.min_tokens) == (direct.out_amount, direct.min_out_amount)
    assert preview.min_tokens < preview.expected_tokens and preview.refused is None

    desk.sandbox.faults.set("bags", "outage")
    fallback = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=AMOUNT)
    assert fallback.source == "jupiter" and fallback.expected_tokens > 0

    desk.sandbox.faults.set("jupiter", "outage")
    estimate = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=AMOUNT)
    assert estimate.source == "estimate" and estimate.expected_tokens > estimate.min_tokens > 0
    assert Position.objects.count() == 0  # a preview writes nothing


def test_a_paper_preview_never_asks_a_venue(desk):
    from trading.models import TradingSettings

    token = desk.token()
    prices_refresh(mints=[token.mint])
    TradingSettings.objects.filter(trader=desk.trader).update(mode="paper")
    desk.sandbox.faults.set("bags", "outage")
    desk.sandbox.faults.set("jupiter", "outage")  # a venue call would show as "estimate"
    preview = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=AMOUNT)
    assert (preview.source, preview.mode) == ("paper", "paper") and preview.fee_lamports > 0


def test_a_refused_venue_key_alerts_and_the_preview_does_not_fall_through(desk, settings, caplog):
    token = desk.token()
    prices_refresh(mints=[token.mint])
    settings.BAGS_API_KEY = "not-the-key"
    preview = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=AMOUNT)
    assert preview.source == "estimate"  # not Jupiter's: a refused key is an operator's problem, not a fallback
    assert any("ALERT" in r.getMessage() and "venue_auth:bags" == getattr(r, "alert", "") for r in caplog.records)


def test_price_impact_is_a_fraction_in_every_mode_and_a_percent_on_screen(desk):
    """Both venues send priceImpactPct as a fraction ("0.0012" = 0.12%); the paper model's impact is its slippage in bps.
    Inside, every mode carries a fraction; the buy preview prints it times 100 with a "%"."""
    from decimal import Decimal

    from telegram_app.bot.screens_trade import percent_from_fraction
    from trading.models import TradingSettings

    token = desk.token()
    prices_refresh(mints=[token.mint])
    sandbox = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=AMOUNT)
    direct = _bags_quote(desk.sandbox, token.mint)
    assert sandbox.price_impact == direct.price_impact == Decimal(direct.raw["priceImpactPct"])
    assert 0 < sandbox.price_impact < Decimal("0.5")
    TradingSettings.objects.filter(trader=desk.trader).update(mode="paper")
    paper = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=AMOUNT)
    assert 0 < paper.price_impact < Decimal("0.5")  # a fraction too, not a percent
    assert abs(paper.price_impact - sandbox.price_impact) < Decimal("0.05")  # the same market, the same order of size
    assert percent_from_fraction(Decimal("0.0012")) == "0.12" and percent_from_fraction(Decimal("0.5")) == "50"
