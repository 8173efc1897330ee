"""Solana JSON-RPC: every method the desk's chain client calls, its requests and the sandbox node's answers held to
the RPC docs (tests/contracts/schemas/solana_rpc.json), errors included; and a node that keeps no history."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.contracts.contract import Recorder, check, rpc_result_problems
from trading.chain.rpc import SolanaRpc
from trading.chain.signing import transaction_sign
from trading.venues.base import FeePolicy
from trading.venues.bags import BagsVenue

SOL = "So11111111111111111111111111111111111111112"


@pytest.fixture
def recorded(sandbox_settings):
    recorder = Recorder()
    with SolanaRpc(sandbox_settings.SOLANA_RPC_URL, timeout=5, transport=recorder) as rpc:
        yield rpc, recorder


def _exchanges(recorder: Recorder) -> list[tuple[dict, dict]]:
    return [(json.loads(request.content), response.json()) for request, response in recorder.exchanges]


def _signed_buy(sandbox, trader) -> tuple[bytes, str]:
    bags = BagsVenue(base_url=sandbox.bags_url, api_key=sandbox.bags_api_key, timeout=5)
    try:
        quote = bags.quote(input_mint=SOL, output_mint=sandbox.market.by_symbol("JRVS").mint, amount=20_000_000,
                           slippage_bps=300)
        swap = bags.swap(quote=quote, user_public_key=str(trader.pubkey()),
                         fee=FeePolicy(priority_level="medium", max_lamports=100_000))
    finally:
        bags.close()
    return transaction_sign(raw=swap.transaction, keypair=trader)


def test_every_rpc_call_the_desk_makes_follows_the_rpc_docs(sandbox, recorded, sandbox_trader):
    rpc, recorder = recorded
    owner = str(sandbox_trader.pubkey())
    signed, signature = _signed_buy(sandbox, sandbox_trader)
    rpc.latest_blockhash()
    rpc.block_height()
    rpc.recent_prioritization_fees()
    assert rpc.simulate(signed).err is None
    assert rpc.send_raw(signed) == signature
    assert rpc.signature_statuses([signature, "1" * 64])[0].landed
    assert rpc.transaction(signature).sol_delta(owner) < 0
    rpc.balance(owner)
    rpc.token_balances(owner)
    methods = set()
    for sent, answer in _exchanges(recorder):
        check("solana_rpc", "request", sent)
        check("solana_rpc", "result_response", answer)
        assert not rpc_result_problems(sent["method"], answer["result"]), (sent["method"], answer["result"])
        methods.add(sent["method"])
    assert methods == {"getLatestBlockhash", "getBlockHeight", "getRecentPrioritizationFees", "simulateTransaction",
                       "sendTransaction", "getSignatureStatuses", "getTransaction", "getBalance", "getTokenAccountsByOwner"}


def test_the_request_contract_can_fail():
    from tests.contracts.contract import problems

    bad_send = {"jsonrpc": "2.0", "id": 1, "method": "sendTransaction", "params": ["AA==", {"encoding": "hex"}]}
    too_many = {"jsonrpc": "2.0", "id": 1, "method": "getSignatureStatuses", "params": [["1" * 64] * 257]}
    assert problems("solana_rpc", "request", bad_send) and problems("solana_rpc", "request", too_many)


def test_a_node_without_history_is_asked_again_without_the_search(sandbox, recorded, sandbox_trader):
    """agave answers -32011 to getSignatureStatuses with searchTransactionHistory when it keeps no history: the client
    asks again without the search (the node's recent statuses), and from then on asks that node without it."""
    rpc, recorder = recorded
    signed, signature = _signed_buy(sandbox, sandbox_trader)
    rpc.send_raw(signed)
    sandbox.faults.set("rpc", "no_history")
    assert rpc.signature_statuses([signature])[0].landed
    assert rpc.signature_statuses(["1" * 64]) == [None]  # unknown: the landing loop settles it by block height
    statuses = [(sent, answer) for sent, answer in _exchanges(recorder) if sent["method"] == "getSignatureStatuses"]
    assert [sent["params"][1:] for sent, _ in statuses] == [[{"searchTransactionHistory": True}], [], []]
    refused = statuses[0][1]
    check("solana_rpc", "error_response", refused)
    assert refused["error"]["code"] == -32011
    assert refused["error"]["message"] == "Transaction history is not available from this node"
    for sent, _ in statuses:
        check("solana_rpc", "request", sent)


def test_the_sandbox_node_without_history_still_answers_recent_statuses(sandbox, sandbox_settings):
    sandbox.faults.set("rpc", "no_history")
    body = {"jsonrpc": "2.0", "id": 1, "method": "getSignatureStatuses", "params": [["1" * 64]]}
    answer = httpx.post(sandbox.rpc_url, json=body, timeout=5).json()
    check("solana_rpc", "result_response", answer)
    assert answer["result"]["value"] == [None]
