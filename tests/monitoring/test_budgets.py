import logging
from datetime import UTC, datetime

import pytest

from monitoring.budgets import BudgetExhausted, budget_cache_clear, budget_spend, budget_usage, budget_usage_sync
from monitoring.models import ProviderBudget, ProviderUsageDay


@pytest.fixture
def bags_budget(db, clean_redis):
    budget_cache_clear()
    ProviderBudget.objects.create(provider="bags", cost_per_call_micro_usd=100, monthly_budget_micro_usd=1000)
    yield
    budget_cache_clear()


def test_budget_exhaustion_blocks_a_trending_call_but_not_an_exit(bags_budget):
    for _ in range(10):
        budget_spend(provider="bags", essential=False)  # trending lists, token cards
    with pytest.raises(BudgetExhausted) as excinfo:
        budget_spend(provider="bags", essential=False)
    assert excinfo.value.code == "budget_exhausted"
    assert "trades and exits still go through" in excinfo.value.message

    budget_spend(provider="bags", essential=True)  # an exit
    budget_spend(provider="bags", essential=True)  # its confirmation
    [row] = budget_usage()
    assert row["calls_month"] == 12
    assert row["cost_month_micro_usd"] == 1200
    assert row["refused_month"] == 1
    assert row["used_percent"] == 120.0


def test_a_warning_is_logged_once_at_eighty_percent(bags_budget, caplog):
    caplog.set_level(logging.WARNING, logger="monitoring.budgets")
    for _ in range(7):
        budget_spend(provider="bags", essential=False)
    assert not caplog.records
    for _ in range(3):
        budget_spend(provider="bags", essential=False)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["provider bags has used 80% of its monthly budget"]


def test_a_provider_without_a_budget_is_counted_but_never_refused(db, clean_redis):
    budget_cache_clear()
    for _ in range(3):
        budget_spend(provider="dexscreener", essential=False)
    assert budget_usage() == [{
        "provider": "dexscreener", "calls_today": 3, "cost_today_micro_usd": 0, "calls_month": 3,
        "cost_month_micro_usd": 0, "refused_month": 0, "monthly_budget_micro_usd": 0, "used_percent": None,
    }]


def test_daily_usage_is_copied_to_the_database(bags_budget):
    for _ in range(4):
        budget_spend(provider="bags", essential=True)
    assert budget_usage_sync() == 1
    assert budget_usage_sync() == 1  # idempotent
    row = ProviderUsageDay.objects.get()
    assert (row.provider, row.day, row.calls, row.cost_micro_usd) == ("bags", datetime.now(UTC).date(), 4, 400)


def test_with_redis_unreachable_calls_are_allowed(bags_budget, settings, second_redis):
    settings.REDIS_URL = second_redis.url
    second_redis.stop()
    budget_spend(provider="bags", essential=False)  # fails open: monitoring never blocks trading


def test_a_spent_budget_refuses_previews_and_trending_with_a_sentence_but_never_an_exit(
        bags_budget, sandbox, sandbox_settings, sandbox_trader):
    from trading.execution.clients import venues_in_order
    from trading.models.choices import SOL_MINT
    from trading.ratelimit import Priority, call_priority
    from trading.selectors import bags_top_tokens
    from trading.venues.base import FeePolicy, VenueBudgetSpent
    from trading.venues.router import route_swap

    for _ in range(10):
        budget_spend(provider="bags", essential=True)  # the month's 1,000 micro-dollars spent by trading
    bags = next(v for v in venues_in_order() if v.name == "bags")
    token = sandbox.market.tokens()[0]
    before = sandbox.bags.requests
    with call_priority(Priority.PREVIEW), pytest.raises(VenueBudgetSpent) as refused:
        bags_top_tokens()
    assert refused.value.code == "budget_exhausted"
    assert refused.value.message == BudgetExhausted("bags").message  # the trader's sentence
    with call_priority(Priority.PREVIEW), pytest.raises(VenueBudgetSpent):
        bags.quote(input_mint=SOL_MINT, output_mint=token.mint, amount=10_000_000, slippage_bps=300)
    assert sandbox.bags.requests == before  # nothing reached bags.fm
    sandbox.chain.airdrop(sandbox_trader.pubkey(), 10**9)
    routed = route_swap(  # a sell is an exit: essential, so bags.fm still quotes and builds it
        venues=venues_in_order(), input_mint=token.mint, output_mint=SOL_MINT, amount=1000, slippage_bps=500,
        user_public_key=str(sandbox_trader.pubkey()), fee=FeePolicy(priority_level="veryHigh", max_lamports=10**6),
        on_auth_failure=pytest.fail, rounds=1,
    )
    assert routed.quote.venue == "bags" and routed.skipped == ()
    [row] = budget_usage()
    assert row["refused_month"] == 2 and row["calls_month"] >= 12
