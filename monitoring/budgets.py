"""Provider budgets: calls and estimated cost per provider per UTC day and month, against a monthly budget.

Counters live in Redis (one HINCRBY pipeline per call, shared by every process); `budget_usage_sync` copies
the daily counters into ProviderUsageDay for history. Costs are integer micro-dollars.

    from monitoring.budgets import BudgetExhausted, budget_spend
    budget_spend(provider="bags", essential=False)   # trending list: raises BudgetExhausted at 100 %
    budget_spend(provider="bags", essential=True)    # exits, buys, confirmations: always allowed, still counted

Trading's calls are counted as they are made (`trading.chain.observe.provider_call`); before a non-essential one
(a preview, a token card's price, the trending list) trading asks `budget_refusal`, registered as its budget gate
when this app is ready, and shows the trader its sentence instead of calling.

At MONITORING_BUDGET_WARN_PERCENT (80 %) one warning is logged per provider and month; the `budget_spent` alert
rule tells the admins. If Redis cannot be reached the call is allowed (fail open) and a warning logged: a
monitoring outage must never block trading.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import redis
from django.conf import settings

from monitoring import metrics
from monitoring.heartbeats import redis_for
from monitoring.models import ProviderBudget, ProviderUsageDay

logger = logging.getLogger(__name__)

CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, "Budget | None"]] = {}
_cache_lock = threading.Lock()


class BudgetExhausted(Exception):
    code = "budget_exhausted"

    def __init__(self, provider: str):
        self.provider = provider
        self.message = (
            f"The monthly budget for {provider} is used up, so this lookup is paused until next month; "
            "trades and exits still go through."
        )
        super().__init__(self.message)


@dataclass(frozen=True)
class Budget:
    cost_per_call: int
    monthly: int  # micro-dollars; 0 = no limit


def _month_key(provider: str, when: datetime) -> str:
    return f"jarvis:budget:{provider}:m:{when:%Y%m}"


def _day_key(provider: str, day: date) -> str:
    return f"jarvis:budget:{provider}:d:{day:%Y%m%d}"


def budget_for(provider: str) -> Budget | None:
    """The provider's budget row, cached per process for CACHE_SECONDS."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(provider)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]

    row = ProviderBudget.objects.filter(provider=provider, enabled=True).first()
    budget = Budget(row.cost_per_call_micro_usd, row.monthly_budget_micro_usd) if row else None
    with _cache_lock:
        _cache[provider] = (now, budget)
    return budget


def budget_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def budget_refusal(provider: str, *, cost_micro_usd: int | None = None) -> str | None:
    """The sentence for the trader when a non-essential call to ``provider`` must be refused (one more call would pass
    the month's budget), else None. Counts the refusal; the call itself is counted when it is made. This is the gate
    trading asks before a preview or a trending list (`trading.ratelimit.budget_gate_set`, registered in apps.py)."""
    budget = budget_for(provider)
    if not (budget and budget.monthly):
        return None
    cost = cost_micro_usd if cost_micro_usd is not None else budget.cost_per_call
    now = datetime.now(UTC)
    month, day = _month_key(provider, now), _day_key(provider, now.date())
    try:
        client = redis_for(settings.REDIS_URL)
        if int(client.hget(month, "cost") or 0) + cost <= budget.monthly:
            return None
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(month, "refused", 1)
        pipe.hincrby(day, "refused", 1)
        pipe.expire(day, 40 * 86400)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("budget for %s not checked (Redis unreachable): %s", provider, exc)
        return None
    metrics.provider_observe(provider=provider, operation="budget", outcome="refused")
    return BudgetExhausted(provider).message


def budget_spend(*, provider: str, essential: bool, cost_micro_usd: int | None = None) -> None:
    """Count one call to ``provider``; refuse a non-essential one once the month's budget is spent."""
    if not essential and budget_refusal(provider, cost_micro_usd=cost_micro_usd) is not None:
        raise BudgetExhausted(provider)
    budget = budget_for(provider)
    cost = cost_micro_usd if cost_micro_usd is not None else (budget.cost_per_call if budget else 0)
    now = datetime.now(UTC)
    month, day = _month_key(provider, now), _day_key(provider, now.date())
    try:
        client = redis_for(settings.REDIS_URL)
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(month, "calls", 1)
        pipe.hincrby(month, "cost", cost)
        pipe.expire(month, 400 * 86400)
        pipe.hincrby(day, "calls", 1)
        pipe.hincrby(day, "cost", cost)
        pipe.expire(day, 40 * 86400)
        spent = pipe.execute()[1]
    except redis.RedisError as exc:
        logger.warning("budget for %s not counted (Redis unreachable): %s", provider, exc)
        return
    if budget and budget.monthly:
        _warn_once(client, provider=provider, spent=spent, budget=budget.monthly, month=month)


def budget_spend_calls(*, calls: dict[str, int]) -> None:
    """Count essential calls made earlier (provider -> number of calls) in one Redis round trip; never refuses.
    What a caller that batches its counting (order execution) sends instead of one `budget_spend` per call."""
    calls = {provider: n for provider, n in calls.items() if n > 0}
    if not calls:
        return
    budgets = {provider: budget_for(provider) for provider in calls}
    now = datetime.now(UTC)
    try:
        client = redis_for(settings.REDIS_URL)
        pipe = client.pipeline(transaction=False)
        for provider, n in calls.items():
            month, day = _month_key(provider, now), _day_key(provider, now.date())
            cost = n * (budgets[provider].cost_per_call if budgets[provider] else 0)
            pipe.hincrby(month, "calls", n)
            pipe.hincrby(month, "cost", cost)
            pipe.expire(month, 400 * 86400)
            pipe.hincrby(day, "calls", n)
            pipe.hincrby(day, "cost", cost)
            pipe.expire(day, 40 * 86400)
        results = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("budget for %s not counted (Redis unreachable): %s", ", ".join(calls), exc)
        return
    for index, provider in enumerate(calls):
        budget = budgets[provider]
        if budget and budget.monthly:
            spent = results[6 * index + 1]
            _warn_once(client, provider=provider, spent=spent, budget=budget.monthly, month=_month_key(provider, now))


def _warn_once(client, *, provider: str, spent: int, budget: int, month: str) -> None:
    percent = spent * 100 // budget
    if percent >= settings.MONITORING_BUDGET_WARN_PERCENT and client.set(f"{month}:warned", 1, nx=True, ex=40 * 86400):
        logger.warning("provider %s has used %s%% of its monthly budget", provider, percent)


def budget_usage(*, now: datetime | None = None) -> list[dict]:
    """Per provider: calls and cost today and this month, the budget and the share used (percent)."""
    now = now or datetime.now(UTC)
    budgets = {row.provider: row for row in ProviderBudget.objects.all()}
    client = redis_for(settings.REDIS_URL)
    providers = set(budgets)
    for key in client.scan_iter(match=f"jarvis:budget:*:m:{now:%Y%m}", count=500):
        providers.add(key.decode().split(":")[2])
    pipe = client.pipeline(transaction=False)
    ordered = sorted(providers)
    for provider in ordered:
        pipe.hgetall(_month_key(provider, now))
        pipe.hgetall(_day_key(provider, now.date()))
    raw = pipe.execute()
    rows = []
    for i, provider in enumerate(ordered):
        month = {k.decode(): int(v) for k, v in raw[2 * i].items()}
        today = {k.decode(): int(v) for k, v in raw[2 * i + 1].items()}
        row = budgets.get(provider)
        limit = row.monthly_budget_micro_usd if row and row.enabled else 0
        rows.append({
            "provider": provider,
            "calls_today": today.get("calls", 0),
            "cost_today_micro_usd": today.get("cost", 0),
            "calls_month": month.get("calls", 0),
            "cost_month_micro_usd": month.get("cost", 0),
            "refused_month": month.get("refused", 0),
            "monthly_budget_micro_usd": limit,
            "used_percent": round(month.get("cost", 0) * 100 / limit, 1) if limit else None,
        })
    return rows


def budget_usage_sync(*, now: datetime | None = None) -> int:
    """Copy today's and yesterday's Redis counters into ProviderUsageDay; returns the rows written."""
    now = now or datetime.now(UTC)
    client = redis_for(settings.REDIS_URL)
    written = 0
    for day in (now.date() - timedelta(days=1), now.date()):
        for key in client.scan_iter(match=f"jarvis:budget:*:d:{day:%Y%m%d}", count=500):
            provider = key.decode().split(":")[2]
            counts = {k.decode(): int(v) for k, v in client.hgetall(key).items()}
            ProviderUsageDay.objects.update_or_create(
                provider=provider,
                day=day,
                defaults={
                    "calls": counts.get("calls", 0),
                    "refused": counts.get("refused", 0),
                    "cost_micro_usd": counts.get("cost", 0),
                },
            )
            written += 1
    return written
