"""Faults on demand, over the real clients: dropped and delayed transactions, 429/5xx/timeouts, venue outages."""

from __future__ import annotations

import asyncio

import base58
import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts

from tests.conftest import wait_for
from tests.sandbox.helpers import SOL, sign_as
from tests.sandbox.test_rpc import _buy_raw

SKIP = TxOpts(skip_preflight=True, max_retries=0)


async def _send(sandbox, raw: bytes, opts=SKIP):
    async with AsyncClient(sandbox.rpc_url, timeout=5) as client:
        return (await client.send_raw_transaction(raw, opts=opts)).value


async def _status(sandbox, signature):
    async with AsyncClient(sandbox.rpc_url, timeout=5) as client:
        return (await client.get_signature_statuses([signature])).value[0]


def test_a_dropped_transaction_never_lands_until_the_same_bytes_are_sent_again(sandbox, sandbox_settings, sandbox_trader):
    token, quote, raw = _buy_raw(sandbox, sandbox_trader)
    signed = bytes(sign_as(sandbox_trader, raw))
    sandbox.faults.set("rpc", "drop", count=1)
    signature = asyncio.run(_send(sandbox, signed))
    assert asyncio.run(_status(sandbox, signature)) is None
    assert sandbox.ledger.get(str(signature)).status == "dropped"
    assert sandbox.chain.token_balance(sandbox_trader.pubkey(), token.mint) == 0
    assert asyncio.run(_send(sandbox, signed)) == signature  # the re-send loop's second copy lands
    assert asyncio.run(_status(sandbox, signature)).err is None
    entry = sandbox.ledger.get(str(signature))
    assert entry.landed and entry.sends == 2
    assert sandbox.chain.token_balance(sandbox_trader.pubkey(), token.mint) == int(quote["outAmount"])
    asyncio.run(_send(sandbox, signed))  # a third copy of a landed transaction fills nothing more
    assert sandbox.chain.token_balance(sandbox_trader.pubkey(), token.mint) == int(quote["outAmount"])
    assert sandbox.ledger.fill_count(owner=str(sandbox_trader.pubkey())) == 1


@pytest.mark.parametrize("seconds", [0, 0.3])
def test_confirmation_delay_holds_the_status_back_then_lands(sandbox, sandbox_settings, sandbox_trader, seconds):
    token, quote, raw = _buy_raw(sandbox, sandbox_trader)
    sandbox.faults.set("rpc", "confirm_delay", seconds=seconds)
    signature = asyncio.run(_send(sandbox, bytes(sign_as(sandbox_trader, raw))))
    if seconds:
        assert asyncio.run(_status(sandbox, signature)) is None
        assert sandbox.ledger.get(str(signature)).status == "pending"
    status = wait_for(lambda: asyncio.run(_status(sandbox, signature)), timeout=10, message="the delayed confirmation")
    assert status.err is None and sandbox.ledger.get(str(signature)).landed


def test_expired_blockhash_with_preflight_is_refused_with_blockhash_not_found(sandbox, sandbox_settings, sandbox_trader):
    _, _, raw = _buy_raw(sandbox, sandbox_trader)
    sandbox.chain.expire_blockhash()
    with pytest.raises(RPCException, match="BlockhashNotFound"):
        asyncio.run(_send(sandbox, bytes(sign_as(sandbox_trader, raw)), opts=TxOpts()))


@pytest.mark.parametrize(("fault", "params", "status"), [("http_429", {}, 429), ("http_5xx", {"status": 502}, 502)])
def test_rpc_http_faults_answer_once_then_recover(sandbox, sandbox_settings, fault, params, status):
    sandbox.faults.set("rpc", fault, count=1, methods=("getLatestBlockhash",), **params)
    body = {"jsonrpc": "2.0", "id": 1, "method": "getLatestBlockhash"}
    with httpx.Client(timeout=5) as http:
        assert http.post(sandbox.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).status_code == 200
        first = http.post(sandbox.rpc_url, json=body)
        second = http.post(sandbox.rpc_url, json=body)
    assert first.status_code == status
    if status == 429:
        assert first.headers["Retry-After"] == "1"
    assert second.status_code == 200 and "blockhash" in second.json()["result"]["value"]


def test_rpc_timeout_fault_holds_the_answer_past_the_clients_timeout(sandbox, sandbox_settings):
    sandbox.faults.set("rpc", "timeout", count=1, seconds=1.0)
    with httpx.Client(timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post(sandbox.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getBlockHeight"})
        assert http.post(sandbox.rpc_url, json={"jsonrpc": "2.0", "id": 2, "method": "getBlockHeight"}).status_code == 200


def _quote(sandbox, venue, mint, http, amount="100000000"):
    if venue == "bags":
        return http.get(f"{sandbox.bags_url}/trade/quote", headers={"x-api-key": sandbox.bags_api_key},
                        params={"inputMint": SOL, "outputMint": mint, "amount": amount})
    return http.get(f"{sandbox.jupiter_url}/swap/v2/order", headers={"x-api-key": sandbox.jupiter_api_key},
                    params={"inputMint": SOL, "outputMint": mint, "amount": amount})


@pytest.mark.parametrize("venue", ["bags", "jupiter"])
def test_venue_outage_rate_limit_no_route_and_slowness(sandbox, sandbox_settings, venue):
    mint = sandbox.market.by_symbol("MOON").mint
    with httpx.Client(timeout=5) as http:
        sandbox.faults.set(venue, "outage", count=1)
        outage = _quote(sandbox, venue, mint, http)
        sandbox.faults.set(venue, "http_429", count=1, retry_after=3)
        limited = _quote(sandbox, venue, mint, http)
        sandbox.faults.set(venue, "no_route", count=1)
        no_route = _quote(sandbox, venue, mint, http)
        unknown_mint = _quote(sandbox, venue, "11111111111111111111111111111111", http)
        recovered = _quote(sandbox, venue, mint, http)
        sandbox.faults.set(venue, "slow", seconds=1.0)
        with pytest.raises(httpx.ReadTimeout):
            _quote(sandbox, venue, mint, httpx.Client(timeout=0.2))
    assert outage.status_code == 503 and limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert no_route.status_code == 400 and unknown_mint.status_code == 400 and recovered.status_code == 200
    if venue == "bags":  # bags.fm's envelope, with a wording of its own (not Jupiter's)
        assert outage.json()["success"] is False and no_route.json()["success"] is False
        assert "route" not in no_route.json()["error"].lower()
    else:  # Swap V2's {error}
        assert no_route.json() == {"error": "Could not find any route"}


def test_a_swap_that_fails_simulation_lands_as_failed_and_fills_nothing(sandbox, sandbox_settings, sandbox_trader):
    sandbox.faults.set("jupiter", "fail_simulation", count=1)
    token, _, raw = _buy_raw(sandbox, sandbox_trader)
    signed = sign_as(sandbox_trader, raw)

    async def scenario():
        async with AsyncClient(sandbox.rpc_url, timeout=5) as client:
            sim = (await client.simulate_transaction(signed)).value
            assert sim.err is not None
            with pytest.raises(RPCException):  # preflight refuses it
                await client.send_raw_transaction(bytes(signed), opts=TxOpts())
            signature = (await client.send_raw_transaction(bytes(signed), opts=SKIP)).value
            return (await client.get_signature_statuses([signature])).value[0], signature

    status, signature = asyncio.run(scenario())
    assert status is not None and status.err is not None  # landed, failed, fee charged
    entry = sandbox.ledger.get(str(signature))
    assert entry.status == "failed" and entry.fee > 0 and entry.swap.will_fail
    assert sandbox.chain.token_balance(sandbox_trader.pubkey(), token.mint) == 0
    assert sandbox.ledger.fill_count(owner=str(sandbox_trader.pubkey())) == 0


def test_a_price_move_past_the_slippage_between_quote_and_swap_fails_on_chain(sandbox, sandbox_settings, sandbox_trader):
    token = sandbox.market.by_symbol("MOON")
    headers = {"x-api-key": sandbox.bags_api_key}
    with httpx.Client(base_url=sandbox.bags_url, headers=headers, timeout=5) as http:
        quote = http.get("/trade/quote", params={"inputMint": SOL, "outputMint": token.mint, "amount": "100000000",
                                                 "slippageMode": "manual", "slippageBps": 50}).json()["response"]
        sandbox.market.move(token.mint, 2)  # 2% dearer: fewer tokens than the 0.5% slippage allows
        swap = http.post("/trade/swap", json={"quoteResponse": quote, "userPublicKey": str(sandbox_trader.pubkey())})
    raw = base58.b58decode(swap.json()["response"]["swapTransaction"])
    signature = asyncio.run(_send(sandbox, bytes(sign_as(sandbox_trader, raw))))
    entry = sandbox.ledger.get(str(signature))
    assert entry.status == "failed" and entry.swap.will_fail.startswith("slippage exceeded")
    assert sandbox.chain.token_balance(sandbox_trader.pubkey(), token.mint) == 0


def test_faults_reject_unknown_kinds(sandbox):
    from sandbox.faults import FaultError

    with pytest.raises(FaultError):
        sandbox.faults.set("rpc", "outage")
    with pytest.raises(FaultError):
        sandbox.faults.set("telegram", "drop")
    assert sandbox.faults.active() == []


def test_a_probable_fault_fires_on_about_that_share_and_repeats_with_the_seed():
    from sandbox.faults import Faults

    def run(seed: int) -> list[bool]:
        faults = Faults(seed=seed)
        faults.set("rpc", "drop", probability=0.3)
        return [faults.take("rpc", "drop") is not None for _ in range(2000)]

    first = run(5)
    assert first == run(5) and first != run(6)
    assert 450 < sum(first) < 750


def test_faults_with_parameters_over_http(sandbox, sandbox_settings):
    from sandbox.control import RemoteSandbox

    remote = RemoteSandbox(sandbox.control_url)
    try:
        answer = remote.set_fault("rpc", "confirm_delay", seconds=0.25, probability=0.5, count=3)
        assert answer["params"] == {"seconds": "0.25"}  # decimals travel as strings
        assert answer["probability"] == 0.5 and answer["count"] == 3
        with pytest.raises(httpx.HTTPStatusError):
            remote.set_fault("rpc", "timeout", seconds=-1)
    finally:
        remote.close()


def test_copies_of_one_transaction_sent_at_once_fill_once(sandbox, sandbox_settings, sandbox_trader):
    from concurrent.futures import ThreadPoolExecutor

    token, quote, raw = _buy_raw(sandbox, sandbox_trader)
    signed = bytes(sign_as(sandbox_trader, raw))
    with ThreadPoolExecutor(max_workers=6) as pool:
        signatures = set(pool.map(lambda _: sandbox.chain.send(signed, skip_preflight=True), range(12)))
    assert len(signatures) == 1
    entry = sandbox.ledger.get(signatures.pop())
    assert entry.landed and entry.sends == 12
    assert sandbox.chain.token_balance(sandbox_trader.pubkey(), token.mint) == int(quote["outAmount"])
