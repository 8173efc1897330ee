"""The venue stand-ins speak their services' shapes: keys, envelopes, rate-limit headers, trending tokens, prices."""

from __future__ import annotations

import base58
import httpx
import pytest
from solders.transaction import VersionedTransaction

from tests.sandbox.helpers import SOL, jupiter_build


def test_bags_requires_its_api_key_and_wraps_every_answer_in_an_envelope(sandbox, sandbox_settings):
    mint = sandbox.market.by_symbol("JRVS").mint
    params = {"inputMint": SOL, "outputMint": mint, "amount": "1000"}
    with httpx.Client(base_url=sandbox.bags_url, timeout=5) as http:
        missing = http.get("/trade/quote", params=params)
        wrong = http.get("/trade/quote", params=params, headers={"x-api-key": "nope"})
        ok = http.get("/trade/quote", params=params, headers={"x-api-key": sandbox.bags_api_key})
        bad_amount = http.get("/trade/quote", params={**params, "amount": "ten"}, headers={"x-api-key": sandbox.bags_api_key})
        manual = http.get("/trade/quote", params={**params, "slippageMode": "manual"},
                          headers={"x-api-key": sandbox.bags_api_key})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == {"success": False, "error": "Invalid or missing API key"}
    assert ok.status_code == 200 and ok.json()["success"] is True
    body = ok.json()["response"]
    assert body["inAmount"] == "1000" and int(body["minOutAmount"]) <= int(body["outAmount"])
    assert body["slippageBps"] == 100 and body["routePlan"][0]["outputMintDecimals"] == 6
    assert bad_amount.status_code == 400 and bad_amount.json()["success"] is False
    assert manual.status_code == 400 and "slippageBps" in manual.json()["error"]


def test_bags_counts_requests_against_the_hourly_limit():
    """On a sandbox of its own: the session's sandbox also answers whatever a worker still runs for another test,
    and each such request would count in the same window."""
    from sandbox.server import Sandbox

    own = Sandbox(seed=7, walk=False, slot_seconds=0.4, bags_rate_limit=3).start()
    try:
        mint = own.market.by_symbol("JRVS").mint
        with httpx.Client(base_url=own.bags_url, timeout=5, headers={"x-api-key": own.bags_api_key}) as http:
            answers = [http.get("/trade/quote", params={"inputMint": SOL, "outputMint": mint, "amount": "1000"})
                       for _ in range(4)]
    finally:
        own.stop()
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == "3" and int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].json() == {"success": False, "error": "Rate limit exceeded"}


def test_bags_swap_is_a_base58_transaction_paid_by_the_trader(sandbox, sandbox_settings, sandbox_trader):
    mint = sandbox.market.by_symbol("MOON").mint
    headers = {"x-api-key": sandbox.bags_api_key}
    with httpx.Client(base_url=sandbox.bags_url, timeout=5, headers=headers) as http:
        quote = http.get("/trade/quote", params={"inputMint": SOL, "outputMint": mint, "amount": "5000000"}).json()
        swap = http.post("/trade/swap", json={"quoteResponse": quote["response"],
                                              "userPublicKey": str(sandbox_trader.pubkey())}).json()["response"]
        bad = http.post("/trade/swap", json={"quoteResponse": quote["response"], "userPublicKey": "x"})
    tx = VersionedTransaction.from_bytes(base58.b58decode(swap["swapTransaction"]))
    assert tx.message.account_keys[0] == sandbox_trader.pubkey()
    assert tx.message.header.num_required_signatures == 2  # the trader's slot is empty, the pool signed its own
    assert swap["lastValidBlockHeight"] > sandbox.chain.block_height()
    assert bad.status_code == 400 and bad.json()["success"] is False


def test_bags_top_tokens_lists_every_simulated_token(sandbox, sandbox_settings):
    with httpx.Client(base_url=sandbox.bags_url, timeout=5, headers={"x-api-key": sandbox.bags_api_key}) as http:
        answer = http.get("/token-launch/top-tokens/lifetime-fees").json()
    assert answer["success"] is True
    listed = {row["token"]: row["tokenInfo"]["symbol"] for row in answer["response"]}
    assert {t.mint: t.symbol for t in sandbox.market.tokens()}.items() <= listed.items()


def test_jupiter_requires_its_key_and_prices_only_what_it_knows(sandbox, sandbox_settings):
    token = sandbox.market.by_symbol("BAGZ")
    unknown = "11111111111111111111111111111111"
    with httpx.Client(base_url=sandbox.jupiter_url, timeout=5) as http:
        denied = http.get("/price/v3", params={"ids": token.mint})
        prices = http.get("/price/v3", params={"ids": f"{token.mint},{unknown},{SOL}"},
                          headers={"x-api-key": sandbox.jupiter_api_key}).json()
        too_many = http.get("/price/v3", params={"ids": ",".join([SOL] * 51)}, headers={"x-api-key": sandbox.jupiter_api_key})
        exact_out = http.get("/swap/v2/order", headers={"x-api-key": sandbox.jupiter_api_key},
                             params={"inputMint": SOL, "outputMint": token.mint, "amount": "10", "swapMode": "ExactOut"})
    assert denied.status_code == 401
    assert unknown not in prices  # no data is absence, never zero
    assert prices[token.mint]["decimals"] == 6 and prices[SOL]["usdPrice"] == 150.0
    from decimal import Decimal

    assert Decimal(str(prices[token.mint]["usdPrice"])) == sandbox.market.price(token.mint) * 150
    assert too_many.status_code == 400 and exact_out.status_code == 400


@pytest.mark.parametrize(("level", "lamports"), [("medium", 5_000), ("high", 20_000), ("veryHigh", 100_000), ("5000", 50_000)])
def test_jupiter_build_prices_compute_by_the_percentile_asked(sandbox, sandbox_settings, sandbox_trader, level, lamports):
    from solders.compute_budget import set_compute_unit_price

    from sandbox.jupiter import BUILD_COMPUTE_UNIT_LIMIT, instruction_json

    mint = sandbox.market.by_symbol("JRVS").mint
    with httpx.Client(base_url=sandbox.jupiter_url, timeout=5, headers={"x-api-key": sandbox.jupiter_api_key}) as http:
        build = http.get("/swap/v2/build", params={"inputMint": SOL, "outputMint": mint, "amount": "1000000",
                                                   "taker": str(sandbox_trader.pubkey()),
                                                   "computeUnitPricePercentile": level}).json()
    expected = set_compute_unit_price(lamports * 1_000_000 // BUILD_COMPUTE_UNIT_LIMIT)
    assert build["computeBudgetInstructions"] == [instruction_json(expected)]
    assert build["swapInstruction"]["accounts"] and build["blockhashWithMetadata"]["lastValidBlockHeight"] > 0


@pytest.mark.parametrize("venue", ["bags", "jupiter"])
def test_a_token_2022_transfer_fee_is_withheld_on_chain_and_in_the_quotes(sandbox, sandbox_settings, sandbox_trader, venue):
    import asyncio
    from decimal import Decimal

    from tests.sandbox.helpers import sign_as
    from tests.sandbox.test_faults import _send
    from sandbox.simulator import TOKEN_2022

    symbol = f"FEE{venue[0].upper()}"
    token = sandbox.market.add_token(symbol=symbol, decimals=6, price=Decimal("0.001"), token_program=TOKEN_2022,
                                     transfer_fee_bps=200)
    owner = str(sandbox_trader.pubkey())

    def swap(input_mint, output_mint, amount):
        if venue == "bags":
            with httpx.Client(base_url=sandbox.bags_url, timeout=5, headers={"x-api-key": sandbox.bags_api_key}) as http:
                quote = http.get("/trade/quote", params={"inputMint": input_mint, "outputMint": output_mint,
                                                         "amount": str(amount)}).json()["response"]
                answer = http.post("/trade/swap", json={"quoteResponse": quote, "userPublicKey": owner}).json()["response"]
            return quote, base58.b58decode(answer["swapTransaction"])
        with httpx.Client(timeout=5) as http:
            return jupiter_build(sandbox, http, sandbox_trader, input_mint=input_mint, output_mint=output_mint,
                                 amount=amount)

    quote, raw = swap(SOL, token.mint, 100_000_000)
    asyncio.run(_send(sandbox, bytes(sign_as(sandbox_trader, raw))))
    held = sandbox.chain.token_balance(owner, token.mint)
    assert held == int(quote["outAmount"])  # the quote is what arrives, after the 2% withheld
    if venue == "bags":
        withheld = int(quote["outTransferFee"])
        assert withheld == -(-(held + withheld) * 200 // 10_000)  # 2% of what the pool sent, rounded up
    quote, raw = swap(token.mint, SOL, held)
    before = sandbox.chain.sol_balance(owner)
    signature = asyncio.run(_send(sandbox, bytes(sign_as(sandbox_trader, raw))))
    entry = sandbox.ledger.get(str(signature))
    assert entry.landed and sandbox.chain.token_balance(owner, token.mint) == 0
    assert sandbox.chain.sol_balance(owner) - before + entry.fee == int(quote["outAmount"])
