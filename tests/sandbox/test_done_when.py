"""The issue's "done when": real solana / solders / httpx clients against the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import base58
import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.pubkey import Pubkey
from solders.signature import Signature

from tests.sandbox.helpers import SOL, jupiter_build, sign_as

SEND = TxOpts(skip_preflight=True, max_retries=0)


async def _confirm(client: AsyncClient, signature: Signature, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = (await client.get_signature_statuses([signature])).value[0]
        if status is not None:
            return status
        await asyncio.sleep(0.02)
    return None


async def _token_amount(client: AsyncClient, owner, mint: str) -> int:
    opts = TokenAccountOpts(mint=Pubkey.from_string(mint))
    accounts = (await client.get_token_accounts_by_owner_json_parsed(owner, opts)).value
    return sum(int(a.account.data.parsed["info"]["tokenAmount"]["amount"]) for a in accounts)


def _bags_swap(sandbox, http, trader, *, input_mint, output_mint, amount, slippage_bps=100):
    headers = {"x-api-key": sandbox.bags_api_key}
    quote = http.get(f"{sandbox.bags_url}/trade/quote", headers=headers, params={
        "inputMint": input_mint, "outputMint": output_mint, "amount": str(amount),
        "slippageMode": "manual", "slippageBps": slippage_bps}).json()
    assert quote["success"] is True
    swap = http.post(f"{sandbox.bags_url}/trade/swap", headers=headers,
                     json={"quoteResponse": quote["response"], "userPublicKey": str(trader.pubkey())}).json()
    assert swap["success"] is True
    return quote["response"], swap["response"], base58.b58decode(swap["response"]["swapTransaction"])


def _jupiter_swap(sandbox, http, trader, *, input_mint, output_mint, amount, slippage_bps=100):
    build, raw = jupiter_build(sandbox, http, trader, input_mint=input_mint, output_mint=output_mint, amount=amount,
                               slippage_bps=slippage_bps)
    return build, build["blockhashWithMetadata"], raw


@pytest.mark.parametrize("venue", ["bags", "jupiter"])
@pytest.mark.parametrize("symbol", ["JRVS", "MOON", "BAGZ"])
def test_buy_then_sell_through_each_venue_lands_the_quoted_amounts(sandbox, sandbox_settings, sandbox_trader, venue, symbol):
    asyncio.run(_buy_then_sell(sandbox, sandbox_trader, venue, symbol))


async def _buy_then_sell(sandbox, sandbox_trader, venue, symbol):
    token = sandbox.market.by_symbol(symbol)
    client = AsyncClient(sandbox.rpc_url, timeout=5)
    swap_via = _bags_swap if venue == "bags" else _jupiter_swap
    with httpx.Client(timeout=5) as http:
        quote, swap, raw = swap_via(sandbox, http, sandbox_trader, input_mint=SOL, output_mint=token.mint,
                                    amount=250_000_000)
        lamports_before = (await client.get_balance(sandbox_trader.pubkey())).value
        signed = sign_as(sandbox_trader, raw)
        signature = (await client.send_raw_transaction(bytes(signed), opts=SEND)).value
        status = await _confirm(client, signature)
        assert status is not None and status.err is None
        assert swap["lastValidBlockHeight"] >= (await client.get_block_height()).value
        received = await _token_amount(client, sandbox_trader.pubkey(), token.mint)
        assert int(quote["otherAmountThreshold"]) <= received <= int(quote["outAmount"])
        assert received == int(quote["outAmount"])  # the price did not move between quote and swap
        spent = lamports_before - (await client.get_balance(sandbox_trader.pubkey())).value
        assert 250_000_000 < spent < 250_000_000 + 3_000_000  # the amount, fees and the token account's rent

        # and back: sell everything received
        quote, swap, raw = swap_via(sandbox, http, sandbox_trader, input_mint=token.mint, output_mint=SOL, amount=received)
        lamports_before = (await client.get_balance(sandbox_trader.pubkey())).value
        signature = (await client.send_raw_transaction(bytes(sign_as(sandbox_trader, raw)), opts=SEND)).value
        assert (await _confirm(client, signature)).err is None
        assert await _token_amount(client, sandbox_trader.pubkey(), token.mint) == 0
        gained = (await client.get_balance(sandbox_trader.pubkey())).value - lamports_before
        fee = sandbox.ledger.get(str(signature)).fee
        assert gained + fee == int(quote["outAmount"])
    entry = sandbox.ledger.get(str(signature))
    assert entry.landed and entry.swap.side == "sell" and entry.swap.venue == venue
    assert entry.swap.owner == str(sandbox_trader.pubkey()) and entry.swap.in_amount == received
    assert sandbox.ledger.fill_count(owner=str(sandbox_trader.pubkey())) == 2


def test_an_expired_blockhash_never_lands(sandbox, sandbox_settings, sandbox_trader):
    asyncio.run(_expired_blockhash(sandbox, sandbox_trader))


async def _expired_blockhash(sandbox, sandbox_trader):
    token = sandbox.market.by_symbol("MOON")
    client = AsyncClient(sandbox.rpc_url, timeout=5)
    with httpx.Client(timeout=5) as http:
        _, swap, raw = _jupiter_swap(sandbox, http, sandbox_trader, input_mint=SOL, output_mint=token.mint,
                                     amount=100_000_000)
    signed = sign_as(sandbox_trader, raw)
    sandbox.chain.expire_blockhash()
    assert (await client.get_block_height()).value > swap["lastValidBlockHeight"]
    signature = (await client.send_raw_transaction(bytes(signed), opts=SEND)).value
    await client.send_raw_transaction(bytes(signed), opts=SEND)  # re-sending the same bytes changes nothing
    assert (await client.get_signature_statuses([signature])).value[0] is None
    assert (await client.get_transaction(signature, max_supported_transaction_version=0)).value is None
    assert await _token_amount(client, sandbox_trader.pubkey(), token.mint) == 0
    entry = sandbox.ledger.get(str(signature))
    assert entry.status == "expired" and not entry.landed and entry.sends == 2
    assert sandbox.ledger.fill_count(owner=str(sandbox_trader.pubkey())) == 0


def test_block_height_advances_with_time_and_expires_blockhashes():
    from sandbox.server import Sandbox

    sb = Sandbox(slot_seconds=0.005, walk=False).start()

    async def scenario():
        client = AsyncClient(sb.rpc_url, timeout=5)
        blockhash = (await client.get_latest_blockhash()).value
        assert sb.chain.blockhash_valid(str(blockhash.blockhash))
        deadline = time.monotonic() + 10
        while (await client.get_block_height()).value <= blockhash.last_valid_block_height:
            assert time.monotonic() < deadline, "the block height did not advance"
            await asyncio.sleep(0.05)
        assert not sb.chain.blockhash_valid(str(blockhash.blockhash))
        assert (await client.get_latest_blockhash()).value.blockhash != blockhash.blockhash
        await client.close()

    try:
        asyncio.run(scenario())
    finally:
        sb.stop()


@pytest.mark.parametrize("symbol", ["JRVS", "MOON"])
def test_a_forced_30_percent_drop_moves_every_quote_and_price(sandbox, sandbox_settings, symbol):
    token = sandbox.market.by_symbol(symbol)
    with httpx.Client(timeout=5) as http:
        def quotes():
            bags = http.get(f"{sandbox.bags_url}/trade/quote", headers={"x-api-key": sandbox.bags_api_key},
                            params={"inputMint": SOL, "outputMint": token.mint, "amount": "1000000000"}).json()
            jup = http.get(f"{sandbox.jupiter_url}/swap/v2/order", headers={"x-api-key": sandbox.jupiter_api_key},
                           params={"inputMint": SOL, "outputMint": token.mint, "amount": "1000000000"}).json()
            price = http.get(f"{sandbox.jupiter_url}/price/v3", headers={"x-api-key": sandbox.jupiter_api_key},
                             params={"ids": f"{token.mint},{SOL}"}).json()
            return (int(bags["response"]["outAmount"]), int(jup["outAmount"]),
                    Decimal(str(price[token.mint]["usdPrice"])), Decimal(str(price[SOL]["usdPrice"])))

        bags_before, jup_before, usd_before, sol_usd = quotes()
        sandbox.market.move(token.mint, Decimal("-30"))
        bags_after, jup_after, usd_after, _ = quotes()
    # tokens per SOL rise by 1/0.7 (the curve is linear in price); the USD price falls to 70%
    assert abs(Decimal(bags_after) / bags_before - 1 / Decimal("0.7")) < Decimal("1e-6")
    assert abs(Decimal(jup_after) / jup_before - 1 / Decimal("0.7")) < Decimal("1e-6")
    assert usd_after / usd_before == Decimal("0.7")
    assert usd_after / sol_usd == sandbox.market.price(token.mint)
