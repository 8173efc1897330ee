"""The control API: the in-process handles' powers over HTTP, through RemoteSandbox."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest
from solders.keypair import Keypair

from tests.sandbox.helpers import sign_as
from tests.sandbox.test_faults import _send
from tests.sandbox.test_rpc import _buy_raw
from sandbox.control import RemoteSandbox


@pytest.fixture
def remote(sandbox, sandbox_settings):
    client = RemoteSandbox(sandbox.control_url)
    yield client
    client.close()


def test_prices_airdrops_and_balances_over_http(sandbox, remote):
    token = sandbox.market.by_symbol("RUGR")
    assert remote.set_price(token.mint, Decimal("0.002")) == Decimal("0.002")
    assert remote.move(token.mint, Decimal("-30")) == Decimal("0.0014")
    assert sandbox.market.price(token.mint) == Decimal("0.0014")
    wallet = Keypair()
    remote.airdrop(str(wallet.pubkey()), 3_000_000)
    assert remote.balance(str(wallet.pubkey()), token.mint) == {"owner": str(wallet.pubkey()), "lamports": 3_000_000,
                                                               "mint": token.mint, "amount": 0}
    remote.force_path(token.mint, [Decimal("0.001"), Decimal("0.0007")])
    remote.step(2)
    assert sandbox.market.price(token.mint) == Decimal("0.0007")
    height = sandbox.chain.block_height()
    assert remote.expire_blockhash() > height + 150
    state = remote.state()
    assert {t["symbol"] for t in state["tokens"]} >= {"JRVS", "MOON", "BAGZ", "RUGR"}
    assert state["urls"]["control"] == sandbox.control_url


def test_faults_and_ledger_over_http(sandbox, remote, sandbox_trader):
    remote.set_fault("rpc", "drop", count=1)
    assert [f["kind"] for f in remote.state()["faults"]] == ["drop"]
    token, quote, raw = _buy_raw(sandbox, sandbox_trader)
    signed = bytes(sign_as(sandbox_trader, raw))
    signature = str(asyncio.run(_send(sandbox, signed)))
    mine = remote.ledger(owner=str(sandbox_trader.pubkey()))
    assert [(e["signature"], e["status"], e["landed"]) for e in mine] == [(signature, "dropped", False)]
    asyncio.run(_send(sandbox, signed))
    [entry] = remote.ledger(owner=str(sandbox_trader.pubkey()), status="landed")
    assert entry["swap"]["out_amount"] == int(quote["outAmount"]) and entry["sends"] == 2
    with httpx.Client(timeout=5) as http:
        one = http.get(f"{sandbox.control_url}/ledger/{signature}").json()
        missing = http.get(f"{sandbox.control_url}/ledger/nope")
    assert one["swap"]["mint"] == token.mint and missing.status_code == 404
    assert remote.ledger_summary()["fills"] >= 1
    remote.set_fault("bags", "outage")
    remote.clear_faults()
    assert sandbox.faults.active() == []


def test_bad_control_input_is_a_json_error_and_changes_nothing(sandbox, remote):
    token = sandbox.market.by_symbol("JRVS")
    before = sandbox.market.price(token.mint)
    with httpx.Client(base_url=sandbox.control_url, timeout=5) as http:
        bad_price = http.post("/price", json={"mint": token.mint, "price": "-1"})
        bad_mint = http.post("/move", json={"mint": "nope", "pct": "5"})
        missing = http.post("/price", json={"price": "1"})
        bad_fault = http.post("/faults", json={"service": "rpc", "fault": "melt"})
        nowhere = http.get("/nothing")
    assert [r.status_code for r in (bad_price, bad_mint, missing, bad_fault, nowhere)] == [400, 400, 400, 400, 404]
    assert bad_price.json()["code"] == "invalid" and "positive" in bad_price.json()["error"]
    assert sandbox.market.price(token.mint) == before and sandbox.faults.active() == []


def test_a_token_added_over_http_can_be_bought(sandbox, remote, sandbox_trader):
    with httpx.Client(base_url=sandbox.control_url, timeout=5) as http:
        added = http.post("/tokens", json={"symbol": "NEWT", "decimals": 9, "price": "0.5"}).json()
        again = http.post("/tokens", json={"symbol": "NEWT", "decimals": 9, "price": "0.5"})
    assert again.status_code == 400
    token, quote, raw = _buy_raw(sandbox, sandbox_trader, symbol="NEWT", amount=1_000_000_000)
    assert token.mint == added["mint"]
    asyncio.run(_send(sandbox, bytes(sign_as(sandbox_trader, raw))))
    assert sandbox.chain.token_balance(sandbox_trader.pubkey(), token.mint) == int(quote["outAmount"])
    assert int(quote["outAmount"]) == pytest.approx(2 * 10**9, rel=Decimal("0.01"))  # ~2 tokens for 1 SOL at 0.5


def test_the_recent_prioritization_fees_are_a_series_set_over_http_or_what_landed(sandbox, remote):
    from trading.chain.rpc import SolanaRpc

    rpc = SolanaRpc(sandbox.rpc_url)
    assert remote.priority_fees([300, 100, 200]) == [300, 100, 200]
    fees = rpc.recent_prioritization_fees()
    assert len(fees) == 150 and fees[-3:] == [300, 100, 200] and set(fees[:-3]) == {0}
    with pytest.raises(httpx.HTTPStatusError, match="400"):
        remote.priority_fees(["many"])
    assert rpc.recent_prioritization_fees()[-3:] == [300, 100, 200]  # bad input changed nothing
    assert remote.priority_fees([]) == []
    assert set(rpc.recent_prioritization_fees([str(Keypair().pubkey())])) == {0}  # nothing landed writing that account
