"""The chain client, the venue clients and the router against the sandbox over HTTP (real httpx, real solders)."""

from __future__ import annotations

import time

import pytest

from trading.chain.rpc import SOL_MINT, RpcPermanentError, RpcTransientError, SolanaRpc
from trading.chain.signing import transaction_sign
from trading.execution.policy import fill_from_deltas
from trading.venues.bags import BagsVenue
from trading.venues.base import FeePolicy, VenueAuthError, VenueNoRoute, VenueRateLimited, VenueTransientError
from trading.venues.jupiter import JupiterVenue
from trading.ratelimit import provider_paused_for
from trading.venues.router import route_swap

FEE = FeePolicy(priority_level="high", max_lamports=1_000_000)


@pytest.fixture
def rpc(sandbox_settings):
    with SolanaRpc(sandbox_settings.SOLANA_RPC_URL, timeout=2.0) as client:
        yield client


@pytest.fixture
def venues(sandbox_settings):
    s = sandbox_settings
    made = [
        BagsVenue(base_url=s.BAGS_API_URL, api_key=s.BAGS_API_KEY, timeout=1.0),
        JupiterVenue(base_url=s.JUPITER_API_URL, api_key=s.JUPITER_API_KEY, timeout=1.0),
    ]
    yield made
    for venue in made:
        venue.close()


@pytest.fixture
def token(sandbox):
    return sandbox.market.tokens()[0]


def _land(rpc: SolanaRpc, signed: bytes, signature: str):
    assert rpc.send_raw(signed) == signature
    for _ in range(200):
        status = rpc.signature_statuses([signature])[0]
        if status is not None and status.landed:
            return status
        time.sleep(0.02)
    pytest.fail("transaction did not land")


@pytest.mark.parametrize("venue_index", [0, 1], ids=["bags", "jupiter"])
def test_quote_sign_simulate_send_confirm_and_read_the_fill(sandbox, rpc, venues, token, sandbox_trader, venue_index):
    venue = venues[venue_index]
    owner = str(sandbox_trader.pubkey())
    quote = venue.quote(input_mint=SOL_MINT, output_mint=token.mint, amount=200_000_000, slippage_bps=300)
    assert quote.venue == venue.name and quote.in_amount == 200_000_000
    assert 0 < quote.min_out_amount <= quote.out_amount
    swap = venue.swap(quote=quote, user_public_key=owner, fee=FEE)
    assert swap.last_valid_block_height > rpc.block_height()
    signed, signature = transaction_sign(raw=swap.transaction, keypair=sandbox_trader)
    assert rpc.simulate(signed).err is None
    status = _land(rpc, signed, signature)
    assert status.err is None
    meta = rpc.transaction(signature)
    fill = fill_from_deltas(
        side="buy", sol_delta=meta.sol_delta(owner), token_delta=meta.token_delta(owner, token.mint),
        fee_lamports=meta.fee, decimals=token.decimals, exact_in_lamports=quote.in_amount,
    )
    assert fill.out_amount >= quote.min_out_amount
    assert rpc.token_balances(owner)[token.mint] == fill.out_amount == sandbox.chain.token_balance(owner, token.mint)
    assert rpc.balance(owner) == sandbox.chain.sol_balance(owner)
    assert [e.signature for e in sandbox.ledger.landed_swaps(owner=owner)] == [signature]


def test_chain_reads(sandbox, rpc, sandbox_trader):
    blockhash = rpc.latest_blockhash()
    assert blockhash.last_valid_block_height >= rpc.block_height()
    assert rpc.balance(str(sandbox_trader.pubkey())) == 100 * 10**9
    assert rpc.token_balances(str(sandbox_trader.pubkey())) == {}
    assert all(fee >= 0 for fee in rpc.recent_prioritization_fees())
    assert rpc.signature_statuses(["1" * 64]) == [None]
    with pytest.raises(RpcPermanentError):
        rpc.send_raw(b"not a transaction")


def test_rpc_outage_is_transient_and_bounded(sandbox, rpc):
    sandbox.faults.set("rpc", "http_5xx")
    with pytest.raises(RpcTransientError):
        rpc.block_height()


def test_wrong_bags_key_is_an_auth_error_and_the_router_alerts_instead_of_falling_through(sandbox_settings, token):
    s = sandbox_settings
    bad = BagsVenue(base_url=s.BAGS_API_URL, api_key="wrong-key", timeout=1.0)
    jupiter = JupiterVenue(base_url=s.JUPITER_API_URL, api_key=s.JUPITER_API_KEY, timeout=1.0)
    alerts = []
    with pytest.raises(VenueAuthError):
        route_swap(
            venues=[bad, jupiter], input_mint=SOL_MINT, output_mint=token.mint, amount=10_000_000, slippage_bps=300,
            user_public_key="11111111111111111111111111111111", fee=FEE, on_auth_failure=alerts.append, sleep=lambda s: None,
        )
    assert [a.venue for a in alerts] == ["bags"]


@pytest.mark.parametrize("fault", ["outage", "http_429", "no_route", "timeout"])
def test_bags_transient_failure_falls_through_to_jupiter(sandbox, venues, token, sandbox_trader, fault):
    sandbox.faults.set("bags", fault, seconds=3) if fault == "timeout" else sandbox.faults.set("bags", fault)
    routed = route_swap(
        venues=venues, input_mint=SOL_MINT, output_mint=token.mint, amount=10_000_000, slippage_bps=300,
        user_public_key=str(sandbox_trader.pubkey()), fee=FEE, on_auth_failure=pytest.fail, sleep=lambda s: None,
    )
    assert routed.quote.venue == "jupiter" and routed.skipped == ("bags",)


def test_bags_errors_are_classified(sandbox, venues, token):
    bags = venues[0]
    for fault, kind in (("outage", VenueTransientError), ("http_429", VenueRateLimited), ("no_route", VenueNoRoute)):
        sandbox.faults.clear()
        sandbox.faults.set("bags", fault)
        with pytest.raises(kind):
            bags.quote(input_mint=SOL_MINT, output_mint=token.mint, amount=10_000_000, slippage_bps=300)


def test_every_venue_down_raises_transient_after_bounded_rounds(sandbox, venues, token):
    sandbox.faults.set("bags", "outage")
    sandbox.faults.set("jupiter", "outage")
    sleeps = []
    with pytest.raises(VenueTransientError):
        route_swap(
            venues=venues, input_mint=SOL_MINT, output_mint=token.mint, amount=10_000_000, slippage_bps=300,
            user_public_key="11111111111111111111111111111111", fee=FEE, on_auth_failure=pytest.fail, rounds=3,
            sleep=sleeps.append,
        )
    assert len(sleeps) == 2 and all(0 <= s <= 2.0 for s in sleeps)


def test_exhausted_bags_rate_limit_pauses_bags_until_its_reset(sandbox, venues, token, sandbox_trader, clean_redis):
    route = dict(
        venues=venues, input_mint=SOL_MINT, output_mint=token.mint, amount=10_000_000, slippage_bps=300,
        user_public_key=str(sandbox_trader.pubkey()), fee=FEE, on_auth_failure=pytest.fail, sleep=lambda s: None,
    )
    sandbox.bags.rate_limit = 1  # the quote uses the window's only request and announces none remaining
    try:
        assert route_swap(**route).quote.venue == "jupiter"
        assert provider_paused_for(account="bags") > 3000  # until the reset bags.fm announced (its hour)
        sandbox.bags.rate_limit = 1000
        sandbox.bags.reset_rate_limit()  # bags would answer now, but we wait for the reset it announced
        routed = route_swap(**route)
        assert (routed.quote.venue, routed.skipped) == ("jupiter", ("bags",))  # bags.fm would have answered: not asked
        clean_redis.delete("jarvis:rl:bags:paused")
        assert route_swap(**route).quote.venue == "bags"
    finally:
        sandbox.bags.rate_limit = 1000
