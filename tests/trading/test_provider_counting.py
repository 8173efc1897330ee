"""Order execution counts its provider calls against the monthly budgets in one Redis round trip per batch."""

import pytest

from monitoring.budgets import budget_cache_clear, budget_usage
from monitoring.models import ProviderBudget
from trading.chain.observe import provider_call, provider_calls_batched, provider_calls_flush

pytestmark = pytest.mark.django_db


def _usage() -> dict[str, tuple[int, int]]:
    return {row["provider"]: (row["calls_today"], row["cost_today_micro_usd"]) for row in budget_usage()}


def _call(provider: str) -> None:
    with provider_call(provider, "op"):
        pass


def test_batched_calls_are_counted_with_their_cost_when_flushed_and_when_the_batch_ends(clean_redis):
    ProviderBudget.objects.update_or_create(
        provider="bags", defaults={"cost_per_call_micro_usd": 7, "monthly_budget_micro_usd": 10**9, "enabled": True}
    )
    budget_cache_clear()
    with provider_calls_batched():
        for _ in range(3):
            _call("solana_rpc")
        _call("bags")
        assert _usage().get("solana_rpc", (0, 0)) == _usage()["bags"] == (0, 0)  # noted, not yet counted
        provider_calls_flush()
        assert _usage()["solana_rpc"][0] == 3 and _usage()["bags"] == (1, 7)
        with provider_calls_batched():  # nested: the outer batch counts
            _call("bags")
        _call("bags")
        assert _usage()["bags"] == (1, 7)
    assert _usage()["bags"] == (3, 21)  # the rest, counted as the batch ended
    _call("bags")
    assert _usage()["bags"] == (4, 28)  # outside a batch: counted at once
    provider_calls_flush()  # nothing noted outside a batch: nothing counted twice
    assert _usage()["bags"] == (4, 28) and _usage()["solana_rpc"][0] == 3
