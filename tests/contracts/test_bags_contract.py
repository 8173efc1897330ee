"""bags.fm: what the desk's client sends and what the stand-in answers, both held to the SDK's types
(tests/contracts/schemas/bags.json), errors included; and how the client reads what it is given."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from tests.contracts.contract import Recorder, check, problems
from trading.venues.bags import BagsVenue
from trading.venues.base import (
    FeePolicy,
    VenueAuthError,
    VenueMalformedAnswer,
    VenueNoRoute,
    VenuePermanentError,
    VenueRateLimited,
    VenueTransientError,
)

SOL = "So11111111111111111111111111111111111111112"
FEE = FeePolicy(priority_level="high", max_lamports=1_000_000)


@pytest.fixture
def recorded(sandbox, sandbox_settings):
    recorder = Recorder()
    venue = BagsVenue(base_url=sandbox.bags_url, api_key=sandbox.bags_api_key, timeout=5, transport=recorder)
    yield venue, recorder
    venue.close()


def _envelope(response, definition: str):
    body = response.json()
    if body.get("success") is True:
        check("bags", "success", body)
        check("bags", definition, body["response"])
    else:
        check("bags", "error", body)


def test_the_bags_client_and_stand_in_follow_the_sdk_types(sandbox, recorded, sandbox_trader):
    venue, recorder = recorded
    mint = sandbox.market.by_symbol("JRVS").mint
    buy = venue.quote(input_mint=SOL, output_mint=mint, amount=50_000_000, slippage_bps=300)
    venue.swap(quote=buy, user_public_key=str(sandbox_trader.pubkey()), fee=FEE)
    venue.top_tokens()
    quotes, swaps, tops = (recorder.calls(p) for p in ("/trade/quote", "/trade/swap", "/top-tokens/lifetime-fees"))
    assert len(quotes) == len(swaps) == len(tops) == 1
    for sent, answer in quotes:
        check("bags", "quote_request", sent)
        _envelope(answer, "quote_response")
    for sent, answer in swaps:
        check("bags", "swap_request", sent)
        _envelope(answer, "swap_response")
    _envelope(tops[0][1], "top_tokens_response")
    assert buy.price_impact == Decimal(quotes[0][1].json()["response"]["priceImpactPct"])  # a fraction, as sent


def test_bundles_and_tips_follow_the_sdk_types(sandbox, recorded, sandbox_trader):
    """POST /solana/send-bundle, POST /solana/get-bundle-statuses, GET /solana/jito-recent-fees: the desk's requests
    and the stand-in's answers (bags-sdk src/services/solana.ts, src/types/solana.ts)."""
    from trading.chain.bundles import JITO_TIP_ACCOUNTS, tip_transaction
    from trading.chain.signing import transaction_sign

    venue, recorder = recorded
    owner = str(sandbox_trader.pubkey())
    tips = venue.jito_recent_fees()
    assert tips[25] <= tips[50] <= tips[75] <= tips[95] <= tips[99] and tips[50] > 0  # lamports
    quote = venue.quote(input_mint=SOL, output_mint=sandbox.market.by_symbol("JRVS").mint, amount=20_000_000,
                        slippage_bps=300)
    swap, _ = transaction_sign(raw=venue.swap(quote=quote, user_public_key=owner, fee=FEE).transaction,
                               keypair=sandbox_trader)
    tip, _ = transaction_sign(raw=tip_transaction(swap=swap, payer=owner, tip_account=JITO_TIP_ACCOUNTS[3],
                                                  lamports=tips[50]), keypair=sandbox_trader)
    bundle_id = venue.send_bundle([swap, tip])
    assert venue.bundle_statuses([bundle_id, "0" * 64]) == {bundle_id: "confirmed"}
    ((fees_sent, fees), (bundle_sent, bundle), (status_sent, status)) = (
        recorder.calls(p)[0] for p in ("/jito-recent-fees", "/send-bundle", "/get-bundle-statuses"))
    assert fees_sent == {}
    _envelope(fees, "jito_recent_fees_response")
    check("bags", "send_bundle_request", bundle_sent)
    _envelope(bundle, "send_bundle_response")
    check("bags", "bundle_statuses_request", status_sent)
    _envelope(status, "bundle_statuses_response")


@pytest.mark.parametrize(("fault", "kind"), [("outage", VenueTransientError), ("http_429", VenueRateLimited),
                                             ("no_route", VenueNoRoute)])
def test_bags_errors_are_the_sdk_envelope_and_classified_by_status(sandbox, recorded, fault, kind):
    venue, recorder = recorded
    sandbox.faults.set("bags", fault, count=1)
    with pytest.raises(kind):
        venue.quote(input_mint=SOL, output_mint=sandbox.market.by_symbol("MOON").mint, amount=10_000_000,
                    slippage_bps=300)
    (_, answer), = recorder.calls("/trade/quote")
    check("bags", "error", answer.json())


def test_a_bags_refusal_in_its_own_words_is_no_route_for_a_quote_and_final_for_a_swap(sandbox, recorded,
                                                                                     sandbox_trader):
    """bags.fm's "no route" text is undocumented, and the stand-in's matches no other venue's wording: the client
    classifies by HTTP status and endpoint (an unknown mint: 400 to the quote), never by Jupiter's words."""
    venue, recorder = recorded
    with pytest.raises(VenueNoRoute):
        venue.quote(input_mint=SOL, output_mint="11111111111111111111111111111111", amount=10_000_000, slippage_bps=300)
    mint = sandbox.market.by_symbol("MOON").mint
    quote = venue.quote(input_mint=SOL, output_mint=mint, amount=10_000_000, slippage_bps=300)
    with pytest.raises(VenuePermanentError) as refused:
        venue.swap(quote=quote, user_public_key="not-a-key", fee=FEE)
    assert not isinstance(refused.value, VenueNoRoute) and refused.value.status == 400
    for _, answer in recorder.calls("/trade/quote")[:1] + recorder.calls("/trade/swap"):
        check("bags", "error", answer.json())
    bad_key = BagsVenue(base_url=sandbox.bags_url, api_key="wrong", timeout=5)
    with pytest.raises(VenueAuthError):
        bad_key.quote(input_mint=SOL, output_mint=mint, amount=10_000_000, slippage_bps=300)
    bad_key.close()


def test_the_client_refuses_requests_the_sdk_would_not_send():
    """The request schema can fail: a manual slippage without its bps, an amount that is not base units."""
    assert problems("bags", "quote_request", {"inputMint": SOL, "outputMint": SOL, "amount": "10", "slippageMode": "manual"})
    assert problems("bags", "quote_request", {"inputMint": SOL, "outputMint": SOL, "amount": "0.5"})
    assert problems("bags", "swap_request", {"quoteResponse": {}, "userPublicKey": SOL})


@pytest.mark.parametrize(("field", "value"), [("outAmount", 123), ("priceImpactPct", 0.01), ("priceImpactPct", None),
                                              ("minOutAmount", "-5"), ("slippageBps", "300")])
def test_a_bags_quote_of_an_undocumented_shape_is_a_logged_permanent_error(sandbox, recorded, caplog, field, value):
    venue, recorder = recorded
    sandbox.faults.set("bags", "malformed", count=1, field=field, value=value)
    with caplog.at_level(logging.ERROR), pytest.raises(VenueMalformedAnswer) as caught:
        venue.quote(input_mint=SOL, output_mint=sandbox.market.by_symbol("MOON").mint, amount=10_000_000,
                    slippage_bps=300)
    assert field in caught.value.message and not caught.value.transient
    assert any("undocumented shape" in r.getMessage() for r in caplog.records)
    (_, answer), = recorder.calls("/trade/quote")
    assert problems("bags", "quote_response", answer.json()["response"])  # the contract sees it too


def test_top_tokens_are_read_from_the_sdk_row_shape(sandbox, recorded):
    venue, _ = recorded
    token = sandbox.market.by_symbol("MOON")
    sandbox.market.move(token.mint, Decimal("12.5"))
    rows = {row.mint: row for row in venue.top_tokens()}
    moon = rows[token.mint]
    assert moon.symbol == "MOON" and moon.price_sol == sandbox.market.price(token.mint)
    assert moon.price_change_pct == Decimal("12.5") and moon.lifetime_fees_lamports > 0


def test_a_top_token_without_a_latest_price_has_no_price_never_zero(sandbox, recorded):
    venue, recorder = recorded
    sandbox.faults.set("bags", "malformed", count=1, field="tokenLatestPrice", value=None)
    first = venue.top_tokens()[0]
    assert first.price_sol is None and first.symbol  # listed, without a price
    (_, answer), = recorder.calls("/top-tokens/lifetime-fees")
    check("bags", "top_tokens_response", answer.json()["response"])  # null is documented (TokenLatestPrice | null)


def test_the_launch_feed_follows_the_documented_row_and_the_sdk_launch_states(sandbox, recorded):
    """GET /token-launch/feed: each row in the documented shape, its status one of the SDK's TokenLaunchStatus; the
    sandbox's curve moves a launch through them (sandbox/launches.py)."""
    venue, recorder = recorded
    curve = sandbox.launches.create(symbol="CNTRLNCH", price=Decimal("0.00001"), threshold_lamports=10**10)
    seen = [next(r.status for r in venue.launch_feed() if r.mint == curve.mint)]
    with pytest.raises(VenueNoRoute):  # not trading before its launch
        venue.quote(input_mint=SOL, output_mint=curve.mint, amount=10_000_000, slippage_bps=300)
    sandbox.launches.go_live(curve.mint)
    seen.append(next(r.status for r in venue.launch_feed() if r.mint == curve.mint))
    assert venue.quote(input_mint=SOL, output_mint=curve.mint, amount=10_000_000, slippage_bps=300).out_amount > 0
    sandbox.launches.fill(curve.mint, 10**10)
    seen.append(next(r.status for r in venue.launch_feed() if r.mint == curve.mint))
    assert seen == ["PRE_LAUNCH", "PRE_GRAD", "MIGRATING"]
    for _, answer in recorder.calls("/token-launch/feed"):
        _envelope(answer, "launch_feed_response")
    assert problems("bags", "launch_feed_row", {**answer.json()["response"][0], "status": "GRADUATED"})
    sandbox.faults.set("bags", "malformed", count=1, field="status", value="GRADUATED")
    assert curve.mint not in {r.mint for r in venue.launch_feed()}  # a row of an unknown state is skipped
