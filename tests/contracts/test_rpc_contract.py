"""Solana JSON-RPC: every method the desk's chain client calls, its requests and the sandbox node's answers held to
the RPC docs (tests/contracts/schemas/solana_rpc.json), errors included; and a node that keeps no history."""

from __future__ import annotations

import json

import httpx
import pytest
from solders.keypair import Keypair

from tests.contracts.contract import Recorder, check, rpc_result_problems
from trading.chain.rpc import RpcMalformedAnswer, SolanaRpc
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
    mint = sandbox.market.by_symbol("MOON").mint
    nobody = str(Keypair().pubkey())
    assert rpc.accounts([mint, owner, nobody])[2] is None  # no account there
    assert len(rpc.token_largest_accounts(mint)) == 20
    methods = set()
    for sent, answer in _exchanges(recorder):
        check("solana_rpc", "request", sent)
        check("solana_rpc", "result_response", answer)
        assert not rpc_result_problems(sent["method"], answer["result"]), (sent["method"], answer["result"])
        methods.add(sent["method"])
    assert methods == {"getLatestBlockhash", "getBlockHeight", "getRecentPrioritizationFees", "simulateTransaction",
                       "sendTransaction", "getSignatureStatuses", "getTransaction", "getBalance", "getTokenAccountsByOwner",
                       "getMultipleAccounts", "getTokenLargestAccounts"}


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


CTX = {"slot": 1000}
MALFORMED = [
    ("getLatestBlockhash", {"context": CTX, "value": {"blockhash": "x"}}, lambda rpc: rpc.latest_blockhash()),
    ("getBlockHeight", "1000", lambda rpc: rpc.block_height()),
    ("getSignatureStatuses", {"context": CTX, "value": [{"slot": "5"}]}, lambda rpc: rpc.signature_statuses(["1" * 64])),
    ("getSignatureStatuses", {"context": CTX, "value": []}, lambda rpc: rpc.signature_statuses(["1" * 64])),
    ("getBalance", {"context": CTX, "value": "5"}, lambda rpc: rpc.balance(SOL)),
    ("getRecentPrioritizationFees", [{"slot": 1}], lambda rpc: rpc.recent_prioritization_fees()),
    ("getTransaction", {"slot": 5, "transaction": ["", "base64"], "meta": {"err": None}},
     lambda rpc: rpc.transaction("1" * 64)),
    ("sendTransaction", 42, lambda rpc: rpc.send_raw(_self_transfer(rpc))),
]
PER_REQUEST = {("getSignatureStatuses", 3)}  # one status per signature asked: a rule no schema of the answer alone sees


def _self_transfer(rpc) -> bytes:
    from solders.hash import Hash
    from solders.keypair import Keypair
    from solders.message import MessageV0
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    payer = Keypair()
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payer.pubkey(), lamports=1))
    message = MessageV0.try_compile(payer.pubkey(), [ix], [], Hash.from_string(rpc.latest_blockhash().blockhash))
    return bytes(VersionedTransaction(message, [payer]))


@pytest.mark.parametrize(("index", "method", "value", "call"), [(i, *case) for i, case in enumerate(MALFORMED)],
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(MALFORMED)])
def test_an_rpc_answer_of_an_undocumented_shape_is_a_logged_permanent_error(sandbox, recorded, caplog, index, method,
                                                                           value, call):
    rpc, recorder = recorded
    sandbox.faults.set("rpc", "malformed", methods=[method], value=value)
    with caplog.at_level("ERROR"), pytest.raises(RpcMalformedAnswer) as caught:
        call(rpc)
    assert method in caught.value.message
    answers = [answer for sent, answer in _exchanges(recorder) if sent["method"] == method]
    assert len(answers) == 1  # permanent: not retried
    assert any("undocumented shape" in r.getMessage() for r in caplog.records)
    if (method, index) not in PER_REQUEST:
        assert rpc_result_problems(method, answers[0]["result"])  # the contract refuses it too
