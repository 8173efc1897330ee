"""The JSON-RPC server answers the methods the desk uses in the shapes solana-py (solders) parses."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import get_associated_token_address

from tests.sandbox.helpers import SOL, jupiter_build, sign_as

SKIP = TxOpts(skip_preflight=True, max_retries=0)


def _run(coro):
    return asyncio.run(coro)


def _buy_raw(sandbox, trader, symbol="JRVS", amount=50_000_000, slippage_bps=100):
    token = sandbox.market.by_symbol(symbol)
    headers = {"x-api-key": sandbox.jupiter_api_key}
    with httpx.Client(timeout=5) as http:
        quote, raw = jupiter_build(sandbox, http, trader, input_mint=SOL, output_mint=token.mint, amount=amount,
                                   slippage_bps=slippage_bps)
    return token, quote, raw


def test_a_landed_swap_reads_back_through_every_read_method(sandbox, sandbox_settings, sandbox_trader):
    token, quote, raw = _buy_raw(sandbox, sandbox_trader, symbol="BAGZ")

    async def scenario():
        async with AsyncClient(sandbox.rpc_url, timeout=5) as client:
            sim = (await client.simulate_transaction(sign_as(sandbox_trader, raw), sig_verify=True)).value
            assert sim.err is None and sim.units_consumed > 0
            signature = (await client.send_raw_transaction(bytes(sign_as(sandbox_trader, raw)))).value  # with preflight
            status = (await client.get_signature_statuses([signature])).value[0]
            assert status.err is None and str(status.confirmation_status) == "TransactionConfirmationStatus.Finalized"
            tx = (await client.get_transaction(signature, max_supported_transaction_version=0)).value
            meta = tx.transaction.meta
            assert meta.err is None and meta.fee == sandbox.ledger.get(str(signature)).fee
            post = [b for b in meta.post_token_balances if str(b.owner) == str(sandbox_trader.pubkey())]
            assert post[0].ui_token_amount.amount == quote["outAmount"] and post[0].ui_token_amount.decimals == 6
            assert meta.pre_balances[0] - meta.post_balances[0] > 50_000_000
            ata = get_associated_token_address(sandbox_trader.pubkey(), Pubkey.from_string(token.mint),
                                               Pubkey.from_string(token.token_program))
            balance = (await client.get_token_account_balance(ata)).value
            assert balance.amount == quote["outAmount"] and balance.decimals == 6
            by_program = (await client.get_token_accounts_by_owner(
                sandbox_trader.pubkey(), TokenAccountOpts(program_id=Pubkey.from_string(token.token_program)))).value
            assert [str(a.pubkey) for a in by_program] == [str(ata)]
            info = (await client.get_account_info(ata)).value
            assert str(info.owner) == token.token_program
            mint_info = (await client.get_account_info_json_parsed(Pubkey.from_string(token.mint))).value
            assert mint_info.data.parsed["info"]["decimals"] == 6
            fees = (await client.get_recent_prioritization_fees()).value
            assert len(fees) == 150 and all(f.prioritization_fee >= 0 for f in fees)
            # slot and block height advance together (one block per slot); the chain moves between reads, so the slot
            # read between two height reads lies between them
            before = (await client.get_block_height()).value
            slot = (await client.get_slot()).value
            assert before <= slot <= (await client.get_block_height()).value
            return signature

    signature = _run(scenario())
    assert sandbox.ledger.get(str(signature)).landed


def test_airdrop_and_balance_over_rpc(sandbox):
    wallet = Keypair()

    async def scenario():
        async with AsyncClient(sandbox.rpc_url, timeout=5) as client:
            signature = (await client.request_airdrop(wallet.pubkey(), 2_000_000_000)).value
            assert (await client.get_signature_statuses([signature])).value[0] is not None
            assert (await client.get_balance(wallet.pubkey())).value == 2_000_000_000
            await client.request_airdrop(wallet.pubkey(), 2_000_000_000)  # the same airdrop again still pays
            assert (await client.get_balance(wallet.pubkey())).value == 4_000_000_000

    _run(scenario())


def test_a_transaction_without_the_traders_signature_is_refused(sandbox, sandbox_settings, sandbox_trader):
    _, _, raw = _buy_raw(sandbox, sandbox_trader)  # only the pool signed it

    async def scenario():
        async with AsyncClient(sandbox.rpc_url, timeout=5) as client:
            with pytest.raises(RPCException, match="SignatureVerificationFailure"):
                await client.send_raw_transaction(raw, opts=SKIP)

    _run(scenario())
    signature = str(VersionedTransaction.from_bytes(raw).signatures[0])
    assert sandbox.ledger.get(signature).status == "rejected"


def test_plain_transfers_pay_fees_carry_a_memo_client_id_and_preflight_rejects_an_unfunded_payer(sandbox, sandbox_trader):
    target, unfunded = Keypair(), Keypair()

    async def scenario():
        async with AsyncClient(sandbox.rpc_url, timeout=5) as client:
            blockhash = (await client.get_latest_blockhash()).value.blockhash
            ix = transfer(TransferParams(from_pubkey=sandbox_trader.pubkey(), to_pubkey=target.pubkey(), lamports=10**9))
            memo = Instruction(Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"), b"order-42", [])
            tx = VersionedTransaction(MessageV0.try_compile(sandbox_trader.pubkey(), [ix, memo], [], blockhash),
                                      [sandbox_trader])
            before = (await client.get_balance(sandbox_trader.pubkey())).value
            await client.send_raw_transaction(bytes(tx))
            assert (await client.get_balance(target.pubkey())).value == 10**9
            assert before - (await client.get_balance(sandbox_trader.pubkey())).value == 10**9 + 5000
            [entry] = sandbox.ledger.by_client_id("order-42")
            assert entry.landed and entry.signature == str(tx.signatures[0]) and entry.swap is None
            ix = transfer(TransferParams(from_pubkey=unfunded.pubkey(), to_pubkey=target.pubkey(), lamports=1))
            tx = VersionedTransaction(MessageV0.try_compile(unfunded.pubkey(), [ix], [], blockhash), [unfunded])
            with pytest.raises(RPCException, match="PreflightFailure|AccountNotFound"):
                await client.send_raw_transaction(bytes(tx))

    _run(scenario())


def test_malformed_requests_get_json_rpc_errors(sandbox):
    with httpx.Client(timeout=5) as http:
        unknown = http.post(sandbox.rpc_url, json={"jsonrpc": "2.0", "id": 3, "method": "getNothing"}).json()
        garbage = http.post(sandbox.rpc_url, json={"jsonrpc": "2.0", "id": 4, "method": "sendTransaction",
                                                   "params": ["!!", {"encoding": "base64"}]}).json()
        bad_key = http.post(sandbox.rpc_url, json={"jsonrpc": "2.0", "id": 5, "method": "getBalance",
                                                   "params": ["not-a-key"]}).json()
        batch = http.post(sandbox.rpc_url, json=[{"jsonrpc": "2.0", "id": 6, "method": "getBlockHeight"},
                                                 {"jsonrpc": "2.0", "id": 7, "method": "getHealth"}]).json()
    assert unknown["error"]["code"] == -32601 and unknown["id"] == 3
    assert garbage["error"]["code"] == -32602
    assert bad_key["error"]["code"] == -32602
    assert [r["id"] for r in batch] == [6, 7] and batch[1]["result"] == "ok"
