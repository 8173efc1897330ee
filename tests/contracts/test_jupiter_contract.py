"""Jupiter: what the desk's clients send (Swap API V2 `/order` and `/build`, Price v3) and what the stand-ins answer,
both held to Jupiter's OpenAPI files (tests/contracts/schemas/jupiter.json), errors included."""

from __future__ import annotations

import logging
from decimal import Decimal

import httpx
import pytest
from solders.transaction import VersionedTransaction

from tests.contracts.contract import Recorder, check, problems
from trading.chain.rpc import SolanaRpc
from trading.chain.signing import transaction_sign
from trading.prices import prices_refresh
from trading.venues.base import FeePolicy, VenueAuthError, VenueMalformedAnswer, VenueNoRoute, VenuePermanentError
from trading.venues.jupiter import COMPUTE_UNIT_LIMIT, JupiterVenue

SOL = "So11111111111111111111111111111111111111112"
FEE = FeePolicy(priority_level="high", max_lamports=1_000_000)


@pytest.fixture
def recorded(sandbox, sandbox_settings):
    recorder = Recorder()
    venue = JupiterVenue(base_url=sandbox.jupiter_url, api_key=sandbox.jupiter_api_key, timeout=5, transport=recorder)
    yield venue, recorder
    venue.close()


def test_the_jupiter_client_and_stand_in_follow_swap_api_v2(sandbox, recorded, sandbox_trader, rpc_for):
    venue, recorder = recorded
    token = sandbox.market.by_symbol("MOON")
    quote = venue.quote(input_mint=SOL, output_mint=token.mint, amount=100_000_000, slippage_bps=300)
    swap = venue.swap(quote=quote, user_public_key=str(sandbox_trader.pubkey()), fee=FEE)
    (order_sent, order), = recorder.calls("/swap/v2/order")
    (build_sent, build), = recorder.calls("/swap/v2/build")
    check("jupiter", "order_request", order_sent)
    check("jupiter", "order_response", order.json())
    check("jupiter", "build_request", build_sent)
    check("jupiter", "build_response", build.json())
    assert order_sent.get("taker") is None and order.json()["transaction"] is None  # a quote only
    assert quote.price_impact == Decimal(str(order.json()["priceImpact"])) / 100  # percentage points -> a fraction
    # The desk assembles /build's instructions into its own v0 transaction, signs it and lands it through its RPC.
    tx = VersionedTransaction.from_bytes(swap.transaction)
    assert tx.message.account_keys[0] == sandbox_trader.pubkey()
    assert swap.last_valid_block_height == build.json()["blockhashWithMetadata"]["lastValidBlockHeight"]
    assert swap.compute_unit_limit == COMPUTE_UNIT_LIMIT and 0 < swap.prioritization_fee_lamports <= FEE.max_lamports
    signed, signature = transaction_sign(raw=swap.transaction, keypair=sandbox_trader)
    rpc = rpc_for()
    assert rpc.simulate(signed).err is None
    rpc.send_raw(signed)
    assert rpc.signature_statuses([signature])[0].landed
    assert sandbox.chain.token_balance(sandbox_trader.pubkey(), token.mint) == int(build.json()["outAmount"])


def test_jupiter_errors_are_the_v2_shape_and_classified(sandbox, recorded):
    venue, recorder = recorded
    mint = sandbox.market.by_symbol("MOON").mint
    sandbox.faults.set("jupiter", "no_route", count=1)
    with pytest.raises(VenueNoRoute):
        venue.quote(input_mint=SOL, output_mint=mint, amount=10_000_000, slippage_bps=300)
    with pytest.raises(VenuePermanentError) as refused:
        venue.swap(quote=venue.quote(input_mint=SOL, output_mint=mint, amount=10_000_000, slippage_bps=300),
                   user_public_key="not-a-key", fee=FEE)
    assert refused.value.status == 400 and not isinstance(refused.value, VenueNoRoute)
    bad_key = JupiterVenue(base_url=sandbox.jupiter_url, api_key="wrong", timeout=5, transport=recorder)
    with pytest.raises(VenueAuthError):
        bad_key.quote(input_mint=SOL, output_mint=mint, amount=10_000_000, slippage_bps=300)
    errors = [answer for _, answer in recorder.exchanges if answer.status_code >= 400]
    assert [a.status_code for a in errors] == [400, 400, 401]
    for answer in errors:
        check("jupiter", "error", answer.json())


@pytest.mark.parametrize(("field", "value"), [("outAmount", 5), ("priceImpact", "0.1"), ("otherAmountThreshold", None),
                                              ("priceImpact", 250)])
def test_a_jupiter_quote_of_an_undocumented_shape_is_a_logged_permanent_error(sandbox, recorded, caplog, field, value):
    venue, _ = recorded
    sandbox.faults.set("jupiter", "malformed", count=1, field=field, value=value)
    with caplog.at_level(logging.ERROR), pytest.raises(VenueMalformedAnswer):
        venue.quote(input_mint=SOL, output_mint=sandbox.market.by_symbol("MOON").mint, amount=10_000_000,
                    slippage_bps=300)
    assert any("undocumented shape" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("field", "value"), [("swapInstruction", None), ("blockhashWithMetadata", {"blockhash": [1, 2]}),
                                              ("computeBudgetInstructions", "none")])
def test_a_jupiter_build_of_an_undocumented_shape_is_a_permanent_error(sandbox, recorded, sandbox_trader, field, value):
    venue, _ = recorded
    quote = venue.quote(input_mint=SOL, output_mint=sandbox.market.by_symbol("MOON").mint, amount=10_000_000,
                        slippage_bps=300)
    sandbox.faults.set("jupiter", "malformed", count=1, field=field, value=value)
    with pytest.raises(VenueMalformedAnswer):
        venue.swap(quote=quote, user_public_key=str(sandbox_trader.pubkey()), fee=FEE)


def test_the_desk_sets_its_own_compute_limit_and_caps_the_price_of_a_build(sandbox, sandbox_settings, sandbox_trader):
    from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price

    from sandbox.jupiter import instruction_json
    from trading.venues.jupiter import transaction_from_build

    mint = sandbox.market.by_symbol("MOON").mint
    build = httpx.get(f"{sandbox.jupiter_url}/swap/v2/build", headers={"x-api-key": sandbox.jupiter_api_key}, timeout=5,
                      params={"inputMint": SOL, "outputMint": mint, "amount": "1000000",
                              "taker": str(sandbox_trader.pubkey())}).json()
    build["computeBudgetInstructions"] = [instruction_json(set_compute_unit_limit(1_400_000)),
                                          instruction_json(set_compute_unit_price(10**9))]
    raw, _, fee = transaction_from_build(build, taker=str(sandbox_trader.pubkey()),
                                         fee=FeePolicy(priority_level="high", max_lamports=50_000))
    message = VersionedTransaction.from_bytes(raw).message
    budget = [bytes(ix.data) for ix in message.instructions
              if str(message.account_keys[ix.program_id_index]) == "ComputeBudget111111111111111111111111111111"]
    assert budget == [bytes(set_compute_unit_limit(COMPUTE_UNIT_LIMIT).data),
                      bytes(set_compute_unit_price(50_000 * 1_000_000 // COMPUTE_UNIT_LIMIT).data)]
    assert fee == 50_000  # the cap, not 10^9 micro-lamports x the limit


def test_price_v3_requests_and_answers_follow_the_spec(sandbox, sandbox_settings, clean_redis):
    token = sandbox.market.by_symbol("BAGZ")
    recorder = Recorder()
    with httpx.Client(transport=recorder, timeout=5) as client:
        found = prices_refresh(mints=[token.mint, "11111111111111111111111111111111"], client=client)
    (sent, answer), = recorder.calls("/price/v3")
    check("jupiter", "price_request", sent)
    check("jupiter", "price_response", answer.json())
    assert set(answer.json()[token.mint]) >= {"createdAt", "liquidity"}
    assert found[token.mint].price == sandbox.market.price(token.mint) and len(found) == 1


def test_the_test_price_stand_in_answers_price_v3_too(price_standin):
    price_standin.set("BAGZ1111111111111111111111111111111111111111", "0.0001")
    recorder = Recorder()
    with httpx.Client(transport=recorder, timeout=5) as client:
        prices_refresh(mints=["BAGZ1111111111111111111111111111111111111111"], client=client)
    (sent, answer), = recorder.calls("/price/v3")
    check("jupiter", "price_request", sent)
    check("jupiter", "price_response", answer.json())


@pytest.mark.parametrize(("field", "value"), [("liquidity", "__drop__"), ("createdAt", "__drop__"), ("usdPrice", "1.5"),
                                              ("decimals", "6")])
def test_a_price_entry_of_an_undocumented_shape_is_no_data_and_logged(sandbox, sandbox_settings, clean_redis, caplog,
                                                                      field, value):
    token = sandbox.market.by_symbol("BAGZ")
    other = sandbox.market.by_symbol("MOON")
    params = {"field": field, "key": token.mint} | ({} if value == "__drop__" else {"value": value})
    sandbox.faults.set("jupiter", "malformed", count=1, **params)
    with caplog.at_level(logging.ERROR, logger="trading.prices"):
        found = prices_refresh(mints=[token.mint, other.mint])
    assert token.mint not in found  # no data, never zero
    assert found[other.mint].price == sandbox.market.price(other.mint)  # the rest of the answer still counts
    assert any(token.mint in r.getMessage() and field in r.getMessage() for r in caplog.records)
    assert problems("jupiter", "price_entry", {"createdAt": "2024-06-05T08:55:25.527Z", "liquidity": 1, "usdPrice": 1,
                                               "blockId": 1, "decimals": 6})  # priceChange24h missing


@pytest.fixture
def rpc_for(sandbox_settings):
    made = []

    def make():
        made.append(SolanaRpc(sandbox_settings.SOLANA_RPC_URL, timeout=5))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_shield_requests_and_answers_follow_the_ultra_spec(sandbox, recorded):
    venue, recorder = recorded
    risky = {symbol: sandbox.market.by_symbol(symbol).mint for symbol in ("JRVS", "FRZR", "DLGT", "TAXX", "HNYP")}
    warnings = venue.shield(mints=list(risky.values()))
    (sent, answer), = recorder.calls("/ultra/v1/shield")
    check("jupiter", "shield_request", sent)
    check("jupiter", "shield_response", answer.json())
    kinds = {symbol: {kind for kind, _, _ in warnings[mint]} for symbol, mint in risky.items()}
    assert kinds["JRVS"] == {"NOT_VERIFIED"}
    assert "HAS_FREEZE_AUTHORITY" in kinds["FRZR"] and "HAS_PERMANENT_DELEGATE" in kinds["DLGT"]
    assert {"10%_TRANSFER_FEES", "MUTABLE_TRANSFER_FEES"} <= kinds["TAXX"] and "NOT_SELLABLE" in kinds["HNYP"]
    assert problems("jupiter", "shield_response", {"warnings": {risky["JRVS"]: [{"type": "NOT_VERIFIED"}]}})
