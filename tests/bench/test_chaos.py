"""bench/chaos.py imports, and its accounting (ledger and chain against the database, messages against events)
counts each kind of failure on a tiny hand-made input. The chaos run itself is `make chaos`, not part of the suite."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


@pytest.fixture(scope="module")
def chaos():
    spec = importlib.util.spec_from_file_location("bench_chaos", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def swap(owner: str, mint: str, side: str, status: str = "landed") -> dict:
    return {"signature": f"{owner}-{mint}-{side}-{status}", "status": status,
            "swap": {"owner": owner, "mint": mint, "side": side, "in_amount": 1, "out_amount": 1}}


def facts(chaos, owner, mint, scenario, *, status="closed", size=0, sells=1, in_flight=0):
    return chaos.PositionFacts(owner=owner, mint=mint, scenario=scenario, status=status, size=size, original_size=100,
                               confirmed_sells=sells, orders_open=in_flight)


def clean_case(chaos):
    ledger = [swap("A", "m1", "buy"), swap("A", "m1", "sell"), swap("A", "m1", "sell", status="failed"),
              swap("B", "m2", "buy"), swap("B", "m2", "sell"), swap("B", "m2", "sell"),
              swap("C", "m3", "buy")]
    positions = [facts(chaos, "A", "m1", "sl"), facts(chaos, "B", "m2", "tp", status="open", size=20, sells=2),
                 facts(chaos, "C", "m3", "hold", status="open", size=100, sells=0)]
    balances = {("A", "m1"): 0, ("B", "m2"): 20, ("C", "m3"): 100}
    messages = {1: ["bought", "sold", "sold"], 2: ["bought"]}
    return ledger, positions, balances, messages


def test_a_clean_run_counts_no_failure(chaos):
    ledger, positions, balances, messages = clean_case(chaos)
    report = chaos.account(ledger=ledger, positions=positions, balances=balances, expected_messages=messages,
                           sent_messages={1: ["sold", "bought", "sold"], 2: ["bought"]})
    assert (report.exits_expected, report.exits_done) == (3, 3)  # sl 1 + tp 2 + hold 0; the failed sell is no fill
    assert all(getattr(report, key) == 0 for key in chaos.FAILURE_KEYS), report


def test_a_second_landed_sell_is_a_double_submission_and_a_missing_one_is_lost(chaos):
    ledger, positions, balances, messages = clean_case(chaos)
    ledger += [swap("A", "m1", "sell") | {"signature": "again"}]
    ledger = [e for e in ledger if not (e["swap"]["owner"] == "B" and e["swap"]["side"] == "sell")][:] + [swap("B", "m2", "sell")]
    report = chaos.account(ledger=ledger, positions=positions, balances=balances, expected_messages=messages,
                           sent_messages=messages)
    assert report.double_submissions == 1 and report.lost == 1
    assert report.unrecorded_fills == 2  # each disagrees with the database's confirmed sells


def test_a_second_landed_buy_is_a_double_submission(chaos):
    ledger, positions, balances, messages = clean_case(chaos)
    ledger.append(swap("C", "m3", "buy") | {"signature": "again"})
    report = chaos.account(ledger=ledger, positions=positions, balances=balances, expected_messages=messages,
                           sent_messages=messages)
    assert report.double_submissions == 1


def test_orders_in_flight_balances_and_unknown_fills_are_counted(chaos):
    ledger, positions, balances, messages = clean_case(chaos)
    positions[0] = facts(chaos, "A", "m1", "sl", status="closing", size=100, in_flight=1)
    balances[("C", "m3")] = 99
    ledger.append(swap("Z", "m9", "buy"))
    report = chaos.account(ledger=ledger, positions=positions, balances=balances, expected_messages=messages,
                           sent_messages=messages)
    assert report.stuck == 1
    assert report.balance_mismatches == 2  # A: 0 on chain but 100 held while closing; C: 99 against 100
    assert report.unrecorded_fills == 1  # Z's buy has no position


def test_messages_are_compared_per_chat_and_text(chaos):
    ledger, positions, balances, messages = clean_case(chaos)
    report = chaos.account(ledger=ledger, positions=positions, balances=balances, expected_messages=messages,
                           sent_messages={1: ["bought", "sold", "sold", "sold"], 3: ["bought"]})
    assert report.duplicate_messages == 2  # a third "sold" in chat 1, a "bought" in chat 3 nobody expected
    assert report.missing_messages == 1  # chat 2's "bought"


def test_exit_delays_pair_each_landed_sell_with_the_price_move_that_triggered_it(chaos):
    def sell(owner, mint, landed_at):
        return swap(owner, mint, "sell") | {"signature": f"{owner}{mint}{landed_at}", "landed_at": landed_at}

    ledger = [sell("A", "t", 130.0), sell("A", "t", 104.0), sell("B", "s", 101.5), sell("C", "h", 150.0),
              swap("A", "t", "buy") | {"landed_at": 1.0}]
    moves = {("t", 0): 100.0, ("t", 1): 120.0, ("s", 0): 100.0}
    delays = chaos.exit_delays(ledger=ledger, scenario_of={"t": "tp", "s": "sl", "h": "time"}, moves=moves)
    assert sorted(delays) == [1.5, 4.0, 10.0]  # the time stop has no price move to measure from


def test_withdrawals_are_read_back_from_the_chain_once_each(chaos):
    ledger, positions, balances, messages = clean_case(chaos)
    amount = 20_000_000

    def w(destination, landed, confirmed=None, in_flight=0):
        return chaos.WithdrawalFacts(destination=destination, amount=amount, on_chain=landed * amount,
                                     confirmed=landed if confirmed is None else confirmed, orders_open=in_flight)

    clean = chaos.account(ledger=ledger, positions=positions, balances=balances, expected_messages=messages,
                          sent_messages=messages, withdrawals=[w("W1", 1), w("W2", 1)])
    assert (clean.withdrawals_expected, clean.withdrawals_done) == (2, 2)
    assert all(getattr(clean, key) == 0 for key in chaos.FAILURE_KEYS), clean
    bad = chaos.account(ledger=ledger, positions=positions, balances=balances, expected_messages=messages,
                        sent_messages=messages, withdrawals=[w("W1", 2, confirmed=1), w("W2", 0, in_flight=1)])
    assert bad.double_submissions == 1 and bad.lost == 1 and bad.stuck == 1 and bad.unrecorded_fills == 1


@pytest.mark.django_db
def test_the_run_places_its_withdrawals_through_the_desk(chaos, make_trader):
    """The chaos run's own code path (on paper here; the run itself is on the sandbox chain): one order each."""
    from types import SimpleNamespace

    from trading.models import Order

    traders = [{"trader": make_trader(f"chaos-{i}")} for i in range(3)]
    run = SimpleNamespace(args=SimpleNamespace(withdrawals=2), withdrawals=[], note=lambda text: None)
    chaos.place_withdrawals(run, traders)
    assert len(run.withdrawals) == 2 and len({d for d, _ in run.withdrawals}) == 2
    orders = Order.objects.filter(side="withdraw").order_by("id")
    assert [(o.destination, o.amount_in) for o in orders] == run.withdrawals
