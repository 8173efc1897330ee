"""Pure parts of execution: venue envelopes and error classes, rate-limit pauses, fee/slippage policy, fill math."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.chain.retry import TransientError, backoff_delay, call_with_retries
from trading.execution.policy import MAX_SLIPPAGE_BPS, fee_policy_for, fill_from_deltas, slippage_for
from trading.venues.bags import envelope_unwrap
from trading.venues.base import (
    VenueAuthError,
    VenueMalformedAnswer,
    VenueNoRoute,
    VenuePermanentError,
    VenueRateLimited,
    VenueTransientError,
    classify_http_error,
)


def test_bags_envelope_success_returns_the_response():
    assert envelope_unwrap(status=200, payload={"success": True, "response": {"outAmount": "5"}}) == {"outAmount": "5"}


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (401, "Unauthorized", VenueAuthError),
        (403, "Forbidden", VenueAuthError),
        (429, "Too many requests", VenueRateLimited),
        (500, "boom", VenueTransientError),
        (503, "unavailable", VenueTransientError),
        (400, "amount must be positive", VenuePermanentError),
        (200, "something odd", VenuePermanentError),
    ],
)
def test_bags_envelope_failure_is_classified(status, error, kind):
    with pytest.raises(kind) as caught:
        envelope_unwrap(status=status, payload={"success": False, "error": error})
    assert type(caught.value) is kind
    assert caught.value.venue == "bags"


@pytest.mark.parametrize("error", ["No route found for this pair", "Unable to get a quote", "Token not tradable", ""])
def test_a_bags_refusal_of_a_quote_is_no_route_whatever_its_wording(error):
    """bags.fm does not document its "no route" text (bags-sdk src/api/bags-client.ts): a 4xx {success: false, error}
    to a quote means bags.fm cannot route the trade, so the router may try Jupiter; to a swap it is a refusal for good."""
    with pytest.raises(VenueNoRoute):
        envelope_unwrap(status=400, payload={"success": False, "error": error}, no_route=True)
    with pytest.raises(VenueNoRoute):
        envelope_unwrap(status=404, payload={"message": "Not Found"}, no_route=True)  # the SDK's other error shape
    with pytest.raises(VenuePermanentError) as swap:
        envelope_unwrap(status=400, payload={"success": False, "error": "No route found for this pair"})
    assert not isinstance(swap.value, VenueNoRoute)


@pytest.mark.parametrize("payload", [{"success": False}, {"success": False, "error": 42}, {"success": "no", "error": "x"},
                                     {"success": True, "response": "a string"}, {"success": True}])
def test_a_bags_envelope_of_an_undocumented_shape_is_a_malformed_answer(payload):
    with pytest.raises(VenueMalformedAnswer):
        envelope_unwrap(status=200, payload=payload)


def test_transient_and_permanent_are_told_apart():
    assert classify_http_error(venue="jupiter", status=502, detail="").transient is True
    assert classify_http_error(venue="jupiter", status=400, detail="Could not find any route", no_route=True).transient
    assert classify_http_error(venue="jupiter", status=400, detail="Could not find any route").transient is False
    auth = classify_http_error(venue="jupiter", status=401, detail="")
    assert auth.transient is False and auth.code == "venue_auth_failed"
    assert isinstance(auth, VenuePermanentError)
    assert not isinstance(auth, TransientError)


def test_envelope_missing_is_permanent_unless_the_status_says_otherwise():
    with pytest.raises(VenuePermanentError):
        envelope_unwrap(status=200, payload={"outAmount": "1"})
    with pytest.raises(VenueTransientError):
        envelope_unwrap(status=503, payload="oops")


@given(cap=st.integers(min_value=1, max_value=10**9), attempt=st.integers(min_value=1, max_value=10))
def test_exits_always_bid_more_than_entries(cap, attempt):
    entry = fee_policy_for(side="buy", max_lamports=cap, attempt=attempt)
    exit_ = fee_policy_for(side="sell", max_lamports=cap, attempt=attempt)
    assert exit_.max_lamports > entry.max_lamports >= cap
    assert (entry.priority_level, exit_.priority_level) == ("high", "veryHigh")
    assert fee_policy_for(side="sell", max_lamports=cap, attempt=attempt + 1).max_lamports >= exit_.max_lamports


@given(
    base=st.integers(min_value=0, max_value=10_000),
    bonus=st.integers(min_value=0, max_value=5_000),
    attempt=st.integers(min_value=1, max_value=10),
)
def test_exit_slippage_is_looser_and_bounded(base, bonus, attempt):
    entry = slippage_for(side="buy", base_bps=base, exit_bonus_bps=bonus, attempt=attempt)
    exit_ = slippage_for(side="sell", base_bps=base, exit_bonus_bps=bonus, attempt=attempt)
    assert entry <= exit_ <= MAX_SLIPPAGE_BPS
    assert entry == min(base, MAX_SLIPPAGE_BPS)
    assert slippage_for(side="sell", base_bps=base, exit_bonus_bps=bonus, attempt=attempt + 1) >= exit_


def test_buy_fill_from_balance_changes():
    # 0.5 SOL swapped exact-in, 5000 lamports fee, 2_039_280 lamports of account rent, 1234.5 tokens of 6 decimals.
    fill = fill_from_deltas(
        side="buy", sol_delta=-(500_000_000 + 5_000 + 2_039_280), token_delta=1_234_500_000, fee_lamports=5_000,
        decimals=6, exact_in_lamports=500_000_000,
    )
    assert fill.in_amount == 502_044_280 and fill.out_amount == 1_234_500_000 and fill.fee_lamports == 5_000
    assert fill.price == Decimal("0.5") / Decimal("1234.5")


def test_sell_fill_from_balance_changes():
    fill = fill_from_deltas(side="sell", sol_delta=99_995_000, token_delta=-2_000_000_000, fee_lamports=5_000, decimals=9)
    assert (fill.in_amount, fill.out_amount) == (2_000_000_000, 99_995_000)
    assert fill.price == Decimal("0.1") / Decimal("2")


@pytest.mark.parametrize(("side", "sol", "tok"), [("buy", 5, 10), ("buy", -5, 0), ("sell", -5, -10), ("sell", 5, 3)])
def test_inconsistent_balance_changes_are_refused(side, sol, tok):
    with pytest.raises(ValueError):
        fill_from_deltas(side=side, sol_delta=sol, token_delta=tok, fee_lamports=0, decimals=6)


@given(attempt=st.integers(min_value=1, max_value=30))
def test_backoff_is_jittered_within_its_cap(attempt):
    assert 0 <= backoff_delay(attempt=attempt, base=0.1, cap=2.0) <= 2.0


def test_retries_are_bounded_and_only_for_transient_errors():
    calls = []

    def flaky():
        calls.append(1)
        raise VenueTransientError("down", venue="bags")

    with pytest.raises(VenueTransientError):
        call_with_retries(flaky, attempts=3, sleep=lambda s: None)
    assert len(calls) == 3

    def refused():
        calls.append(2)
        raise VenueAuthError("no", venue="bags")

    with pytest.raises(VenueAuthError):
        call_with_retries(refused, attempts=3, sleep=lambda s: None)
    assert calls.count(2) == 1


def test_rent_moved_into_or_out_of_a_token_account_is_kept_apart_from_the_swap():
    rent = 2_039_280
    buy = fill_from_deltas(side="buy", sol_delta=-(10**8 + 5000 + rent), token_delta=10**6, fee_lamports=5000,
                           decimals=6, exact_in_lamports=10**8, rent_delta=rent)
    assert (buy.in_amount, buy.rent_lamports) == (10**8 + 5000, rent)
    sell = fill_from_deltas(side="sell", sol_delta=2 * 10**8 - 5000 + rent, token_delta=-10**6, fee_lamports=5000,
                            decimals=6, rent_delta=-rent)
    assert (sell.out_amount, sell.rent_lamports, sell.price) == (2 * 10**8 - 5000, -rent, Decimal("0.2"))


def test_close_is_appended_only_to_a_transaction_the_trader_alone_signs():
    from solders.hash import Hash
    from solders.instruction import AccountMeta, Instruction
    from solders.keypair import Keypair
    from solders.message import MessageV0, to_bytes_versioned
    from solders.pubkey import Pubkey
    from solders.signature import Signature
    from solders.transaction import VersionedTransaction

    from trading.chain.rpc import TOKEN_PROGRAM_ID
    from trading.chain.token_accounts import CLOSE_ACCOUNT, close_appended

    trader, other, account = Keypair(), Keypair(), Keypair().pubkey()
    program = Instruction(Keypair().pubkey(), b"swap", [AccountMeta(account, False, True),
                                                        AccountMeta(other.pubkey(), True, False)])
    transfer = Instruction(Pubkey.from_string(TOKEN_PROGRAM_ID), b"\x03", [AccountMeta(account, False, True),
                                                                         AccountMeta(trader.pubkey(), True, False)])
    message = MessageV0.try_compile(trader.pubkey(), [program, transfer], [], Hash.default())
    unsigned = bytes(VersionedTransaction.populate(message, [Signature.default()] * 2))
    names = {"owner": str(trader.pubkey()), "account": str(account), "program": TOKEN_PROGRAM_ID}
    closed = VersionedTransaction.from_bytes(close_appended(unsigned, **names)).message
    keys = list(closed.account_keys)
    last = closed.instructions[-1]
    assert str(keys[last.program_id_index]) == TOKEN_PROGRAM_ID and bytes(last.data) == bytes([CLOSE_ACCOUNT])
    assert [keys[i] for i in bytes(last.accounts)] == [account, trader.pubkey(), trader.pubkey()]
    assert list(closed.instructions[:-1]) == list(message.instructions)
    # Another party's signature would no longer match: nothing is appended.
    signatures = [Signature.default(), other.sign_message(to_bytes_versioned(message))]
    assert close_appended(bytes(VersionedTransaction.populate(message, signatures)), **names) is None
    assert close_appended(unsigned, **{**names, "account": str(Keypair().pubkey())}) is None  # not in the swap


LEVEL_PRICES = {"low": 1, "medium": 10, "high": 100, "veryHigh": 1000}
PERCENTILES = {"low": 25, "medium": 50, "high": 75, "veryHigh": 95}


@pytest.mark.parametrize("policy, buy, sell", [
    ("low", 1, 10), ("medium", 10, 100), ("high", 100, 1000), ("auto", 50, 75),
])
def test_each_policy_prices_entries_at_its_level_and_exits_one_level_higher(policy, buy, sell):
    from trading.execution.policy import compute_unit_price_for

    recent = list(range(1, 101))  # auto: the level's percentile of these (medium p50 for entries, high p75 for exits)
    priced = {side: compute_unit_price_for(policy=policy, side=side, recent_fees=recent, level_prices=LEVEL_PRICES,
                                           percentiles=PERCENTILES) for side in ("buy", "sell")}
    assert priced == {"buy": buy, "sell": sell}
    # auto without a readable fee history falls back to the level's fixed price
    assert compute_unit_price_for(policy="auto", side="buy", recent_fees=None, level_prices=LEVEL_PRICES,
                                  percentiles=PERCENTILES) == LEVEL_PRICES["medium"]
    with pytest.raises(ValueError):
        compute_unit_price_for(policy="turbo", side="buy", recent_fees=recent, level_prices=LEVEL_PRICES,
                               percentiles=PERCENTILES)


@given(price=st.integers(min_value=0, max_value=10**12), cap=st.integers(min_value=1, max_value=10**9),
       limit=st.integers(min_value=1, max_value=1_400_000))
def test_the_price_put_in_a_transaction_never_makes_the_priority_fee_exceed_the_cap(price, cap, limit):
    from trading.venues.base import FeePolicy

    chosen = FeePolicy(priority_level="high", max_lamports=cap, compute_unit_price=price).unit_price_within(limit, 7)
    assert chosen * limit // 1_000_000 <= cap
    assert chosen == min(price or 7, cap * 1_000_000 // limit)


def test_the_desk_sets_its_price_in_an_unsigned_transaction_and_never_voids_a_signature():
    from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
    from solders.hash import Hash
    from solders.keypair import Keypair
    from solders.message import MessageV0, to_bytes_versioned
    from solders.signature import Signature
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    from trading.chain.compute_budget import compute_unit_limit_of, compute_unit_price_of, with_compute_unit_price

    payer, other = Keypair(), Keypair()
    ixs = [set_compute_unit_limit(120_000), set_compute_unit_price(10_000),
           transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=other.pubkey(), lamports=5)),
           transfer(TransferParams(from_pubkey=other.pubkey(), to_pubkey=payer.pubkey(), lamports=1))]
    message = MessageV0.try_compile(payer.pubkey(), ixs, [], Hash.default())
    unsigned = bytes(VersionedTransaction.populate(message, [Signature.default()] * 2))
    priced = with_compute_unit_price(unsigned, 7_500)
    assert (compute_unit_price_of(unsigned), compute_unit_price_of(priced), compute_unit_limit_of(priced)) == (
        10_000, 7_500, 120_000)
    assert VersionedTransaction.from_bytes(priced).message.instructions[2:] == message.instructions[2:]
    signatures = [Signature.default(), other.sign_message(to_bytes_versioned(message))]
    cosigned = bytes(VersionedTransaction.populate(message, signatures))
    assert with_compute_unit_price(cosigned, 7_500) is None  # the other signer's signature would no longer hold
    assert compute_unit_price_of(b"{}") is None  # a paper transaction bids nothing
