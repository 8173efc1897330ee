"""position_open / position_sell / quote_preview: the happy path and every refusal, which must write nothing."""

from decimal import Decimal

import pytest

from tests.fixtures.trading import mint_address
from trading.errors import TradingError
from trading.models import DomainEvent, ExitPlan, KillSwitch, Order, Position, RiskLimits, Token, Trader
from trading.services import (
    kill_switch_set,
    position_apply_fill,
    position_open,
    position_sell,
    quote_preview,
    trader_register,
    trading_settings_update,
)
from trading.services.amounts import sol_to_lamports

pytestmark = pytest.mark.django_db(transaction=False)
SOL = 10**9


@pytest.fixture
def listed(price_standin):
    mint = mint_address()
    price_standin.set(mint, "0.0001", decimals=6)  # 10,000 tokens per SOL
    return mint


def _counts():
    return tuple(m.objects.count() for m in (Position, Order, ExitPlan, Token, DomainEvent, KillSwitch, RiskLimits))


def test_buy_writes_position_exit_plan_and_pending_order_and_queues_on_commit(
    trader, listed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        position = position_open(trader=trader, mint=listed, amount_lamports=SOL // 2)
    assert len(callbacks) == 1  # execute_order is queued only after commit
    assert position.status == "opening" and position.mode == "paper" and position.cost_lamports == SOL // 2
    assert position.exit_plan.preset == "balanced" and position.exit_plan.legs.count() == 3
    order = position.orders.get()
    assert (order.side, order.status, order.venue, order.amount_in) == ("buy", "pending", "paper", SOL // 2)
    # 0.495 SOL after the 1% fee at 0.0001 * (1 + 35 bps) SOL per token
    assert order.amount_out_expected == int(Decimal("0.495") / (Decimal("0.0001") * Decimal("1.0035")) * 10**6)
    assert order.min_amount_out == int(order.amount_out_expected * Decimal("0.97"))
    assert Token.objects.get(mint=listed).decimals == 6


def test_buys_and_sells_carry_the_traders_slippage_and_priority_fee_cap(make_trader, listed):
    """The one order builder gives a trader's own settings to buys and manual sells alike, not only to automatic exits."""
    from trading.services import position_apply_fill, position_sell

    trader = make_trader("fees", buy_slippage_bps=123, sell_slippage_bps=456, priority_fee_max_lamports=7890,
                         priority_fee_policy="high", mev_protection=True)
    position = position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    buy = position.orders.get()
    assert (buy.trader_id, buy.slippage_bps, buy.priority_fee_lamports) == (trader.id, 123, 7890)
    # the fee policy too; MEV protection is for on-chain orders only (this paper order has no bundle)
    assert (buy.priority_fee_policy, buy.mev_protection) == ("high", False)
    position_apply_fill(order_id=buy.id, in_amount=SOL // 10, out_amount=10**6, price=Decimal("0.0001"), fee_lamports=0)
    sell = position_sell(trader=trader, position_id=position.id, percent=Decimal(100))
    assert (sell.trader_id, sell.slippage_bps, sell.priority_fee_lamports) == (trader.id, 456, 7890)


def test_exit_plan_given_or_from_the_traders_default(trader, listed):
    trading_settings_update(trader=trader, default_exit_plan="moon")
    assert position_open(trader=trader, mint=listed, amount_lamports=SOL // 10).exit_plan.preset == "moon"
    given = position_open(trader=trader, mint=listed, amount_lamports=SOL // 10, exit_plan="single")
    assert given.exit_plan.preset == "single" and given.exit_plan.legs.get().fraction == 1


BAD_BUYS = [
    ("not-a-mint", SOL // 10, "invalid_mint"),
    ("So11111111111111111111111111111111111111112", SOL // 10, "invalid_mint"),
    ("1" * 44, SOL // 10, "invalid_mint"),
    ("UNLISTED", SOL // 10, "unknown_mint"),
    ("LISTED", 0, "invalid_amount"),
    ("LISTED", -5, "invalid_amount"),
    ("LISTED", "abc", "invalid_amount"),
    ("LISTED", 0.5, "invalid_amount"),
    ("LISTED", True, "invalid_amount"),
    ("LISTED", 10**30, "amount_absurd"),
    ("LISTED", 999, "amount_too_small"),
    ("LISTED", 2 * SOL, "max_trade"),  # default limit: 1 SOL per trade
]


@pytest.mark.parametrize("mint,amount,code", BAD_BUYS)
def test_bad_buys_are_refused_with_a_sentence_and_write_nothing(trader, listed, mint, amount, code):
    mint = {"LISTED": listed, "UNLISTED": mint_address()}.get(mint, mint)
    before = _counts()
    with pytest.raises(TradingError) as info:
        position_open(trader=trader, mint=mint, amount_lamports=amount)
    assert info.value.code == code
    assert info.value.message[0].isupper() and info.value.message.endswith(".")
    assert _counts() == before


def test_more_than_the_balance_is_refused(make_trader, listed):
    poor = make_trader("poor", paper_balance_lamports=SOL // 10)
    before = _counts()
    with pytest.raises(TradingError) as info:
        position_open(trader=poor, mint=listed, amount_lamports=SOL // 5)
    assert info.value.code == "insufficient_balance" and "0.1000 SOL available" in info.value.message
    assert _counts() == before


@pytest.mark.parametrize("scope", ["global", "trader"])
def test_kill_switch_stops_new_entries_at_once(trader, listed, scope):
    kill_switch_set(enabled=True, trader=None if scope == "global" else trader, actor="ops", reason="drill")
    before = _counts()
    with pytest.raises(TradingError) as info:
        position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    assert info.value.code == "kill_switch_on" and ("everyone" if scope == "global" else "your account") in info.value.message
    assert _counts() == before
    kill_switch_set(enabled=False, trader=None if scope == "global" else trader, actor="ops")
    position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)


def test_paused_trader_cannot_buy(trader, listed):
    Trader.objects.filter(id=trader.id).update(is_paused=True)
    trader.refresh_from_db()
    with pytest.raises(TradingError) as info:
        position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    assert info.value.code == "trader_paused" and Position.objects.count() == 0


def test_risk_limits_per_trader_override_global(trader, listed):
    RiskLimits.objects.create(max_open_positions=1, max_trade_lamports=SOL // 2)
    position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    with pytest.raises(TradingError) as info:
        position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    assert info.value.code == "max_open_positions" and Position.objects.count() == 1
    RiskLimits.objects.create(trader=trader, max_open_positions=3)
    position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    with pytest.raises(TradingError) as info:
        position_open(trader=trader, mint=listed, amount_lamports=SOL // 2 + 1)
    assert info.value.code == "max_trade"


def test_daily_volume_cap(trader, listed):
    RiskLimits.objects.create(daily_volume_cap_lamports=SOL // 4)
    position_open(trader=trader, mint=listed, amount_lamports=SOL // 5)
    with pytest.raises(TradingError) as info:
        position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    assert info.value.code == "daily_volume_cap" and Position.objects.count() == 1


def test_daily_loss_limit_stops_entries_after_losses(trader, listed):
    """The day's loss is exactly the limit (0.5 SOL in, 0.25 SOL back): reaching it stops entries; one lamport of
    room more lets them through."""
    limits = RiskLimits.objects.create(daily_loss_limit_lamports=SOL // 4 + 1)
    position = position_open(trader=trader, mint=listed, amount_lamports=SOL // 2)
    buy = position.orders.get()
    position_apply_fill(order_id=buy.id, in_amount=SOL // 2, out_amount=5000 * 10**6, price=Decimal("0.0001"), fee_lamports=0)
    sell = position_sell(trader=trader, position_id=position.id, percent=Decimal(100))
    position_apply_fill(order_id=sell.id, in_amount=sell.amount_in, out_amount=SOL // 4, price=Decimal("0.00005"), fee_lamports=0)
    assert position_open(trader=trader, mint=listed, amount_lamports=SOL // 10).status == "opening"  # 1 lamport short
    RiskLimits.objects.filter(pk=limits.pk).update(daily_loss_limit_lamports=SOL // 4)
    with pytest.raises(TradingError) as info:
        position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    assert info.value.code == "daily_loss_limit" and "0.25 SOL" in info.value.message


@pytest.fixture
def held(trader, listed):
    position = position_open(trader=trader, mint=listed, amount_lamports=SOL // 2)
    buy = position.orders.get()
    position_apply_fill(order_id=buy.id, in_amount=SOL // 2, out_amount=1001, price=Decimal("0.0001"), fee_lamports=0)
    position.refresh_from_db()
    return position


def test_partial_sell_is_floored_and_full_sell_marks_closing(trader, held):
    half = position_sell(trader=trader, position_id=held.id, percent=Decimal(50))
    assert (half.side, half.amount_in, half.reason) == ("sell", 500, "manual")
    held.refresh_from_db()
    assert held.status == "open"
    with pytest.raises(TradingError) as info:
        position_sell(trader=trader, position_id=held.id, percent=Decimal(100))
    assert info.value.code == "exit_in_flight"
    position_apply_fill(order_id=half.id, in_amount=500, out_amount=SOL // 4, price=Decimal("0.0001"), fee_lamports=0)
    full = position_sell(trader=trader, position_id=held.id, percent="100")
    held.refresh_from_db()
    assert full.amount_in == 501 and held.status == "closing"


@pytest.mark.parametrize(
    "percent,code", [(Decimal(0), "invalid_percent"), (Decimal(101), "invalid_percent"), ("abc", "invalid_percent"),
                     (-5, "invalid_percent"), (0.5, "invalid_percent"), (Decimal("0.01"), "amount_too_small")]
)
def test_bad_sells_are_refused_and_write_nothing(trader, held, percent, code):
    before = Order.objects.count()
    with pytest.raises(TradingError) as info:
        position_sell(trader=trader, position_id=held.id, percent=percent)
    assert info.value.code == code and Order.objects.count() == before


def test_selling_someone_elses_or_an_opening_position_is_refused(make_trader, trader, held, listed):
    other = make_trader("mallory")
    with pytest.raises(TradingError) as info:
        position_sell(trader=other, position_id=held.id, percent=Decimal(100))
    assert info.value.code == "position_not_found"
    opening = position_open(trader=trader, mint=listed, amount_lamports=SOL // 10)
    with pytest.raises(TradingError) as info:
        position_sell(trader=trader, position_id=opening.id, percent=Decimal(100))
    assert info.value.code == "position_opening"


def test_quote_preview_estimates_and_says_why_a_buy_would_be_refused(trader, listed):
    preview = quote_preview(trader=trader, mint=listed, amount_lamports=SOL // 2)
    assert preview.fee_lamports == SOL // 200 and preview.refused is None
    assert preview.expected_tokens > preview.min_tokens > 0 and preview.exit_plan.startswith("TP 2x 50%")
    assert quote_preview(trader=trader, mint=listed, amount_lamports=3 * SOL).refused.startswith("A buy of 3 SOL is over")
    assert Position.objects.count() == 0


def test_settings_update_is_all_or_nothing(trader):
    with pytest.raises(TradingError) as info:
        trading_settings_update(trader=trader, buy_slippage_bps=200, mode="live")
    assert info.value.code == "mode_not_allowed"
    trader.settings.refresh_from_db()
    assert trader.settings.buy_slippage_bps == 300
    trading_settings_update(trader=trader, buy_slippage_bps=200, buy_presets_lamports=[SOL // 10])
    trader.settings.refresh_from_db()
    assert trader.settings.buy_slippage_bps == 200 and trader.settings.buy_presets_lamports == [SOL // 10]


def test_trader_register_sets_up_settings_and_paper_ledger(settings):
    settings.PAPER_START_BALANCE_LAMPORTS = 3 * SOL
    trader = trader_register(name="carol")
    assert trader.settings.mode == "paper" and trader.paper_ledger.start_balance_lamports == 3 * SOL


@pytest.mark.parametrize(
    "text,lamports", [("0.5", SOL // 2), ("1 SOL", SOL), (".25", SOL // 4), ("0.000000001", None), ("1e3", None),
                      ("nan", None), ("-1", None), ("0.0000000001", None), ("", None)]
)
def test_sol_amount_parsing(text, lamports):
    if lamports is None:
        with pytest.raises(TradingError):
            sol_to_lamports(text)
    else:
        assert sol_to_lamports(text) == lamports
