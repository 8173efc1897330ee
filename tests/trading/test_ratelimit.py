"""Provider rate limits shared through Redis: priority classes, the vendor's 429 and headers, the price feed's share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from trading.chain.rpc import RpcTransientError, SolanaRpc
from trading.models.choices import SOL_MINT
from trading.prices import prices_refresh
from trading.ratelimit import (
    Priority,
    RateLimited,
    announced_plan,
    call_priority,
    limit_observe,
    pause_seconds,
    provider_paused_for,
    rate_stats,
    slot_acquire,
)
from trading.venues.base import VenueRateLimited
from trading.venues.jupiter import JupiterVenue

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_sandbox():
    """A sandbox of its own: the session's also answers what a worker still runs for another test, which would count
    in these tests' request counts."""
    from sandbox.server import Sandbox

    sb = Sandbox(seed=7, walk=False, slot_seconds=0.4).start()
    yield sb
    sb.stop()


@pytest.fixture
def own_settings(own_sandbox, settings, clean_redis):
    own_sandbox.faults.clear()
    own_sandbox.jupiter.reset_rate_limit()
    settings.JUPITER_API_URL, settings.JUPITER_API_KEY = own_sandbox.jupiter_url, own_sandbox.jupiter_api_key
    settings.DEXSCREENER_API_URL = None
    return settings


def _granted(priority: Priority, tries: int) -> int:
    count = 0
    for _ in range(tries):
        try:
            slot_acquire(account="jupiter", priority=priority, max_wait=0)
            count += 1
        except RateLimited:
            pass
    return count


def test_each_class_fills_only_its_share_so_exits_always_find_room(settings, clean_redis):
    settings.PROVIDER_RATE_LIMITS = {"jupiter": (20, 60.0)}
    settings.PROVIDER_SHARE_POLL, settings.PROVIDER_SHARE_PREVIEW, settings.PROVIDER_SHARE_ENTRY = 40, 60, 85
    assert _granted(Priority.POLL, 20) == 8  # polling stops at 40 % of the window
    assert _granted(Priority.PREVIEW, 20) == 4  # previews at 60 %
    assert _granted(Priority.ENTRY, 20) == 5  # entries at 85 % (17)
    assert _granted(Priority.EXIT, 20) == 3  # exits may use the whole window, and no more
    assert _granted(Priority.POLL, 1) == 0
    stats = rate_stats(account="jupiter")
    assert stats["exit:refused"] == 17 and stats["poll:refused"] == 13


def test_an_exit_waits_for_room_within_its_bound_instead_of_failing(settings, clean_redis):
    settings.PROVIDER_RATE_LIMITS = {"jupiter": (2, 0.3)}
    slot_acquire(account="jupiter", priority=Priority.EXIT)
    slot_acquire(account="jupiter", priority=Priority.EXIT)
    waited = slot_acquire(account="jupiter", priority=Priority.EXIT)  # the window frees a request within 1 s
    assert waited > 0
    assert rate_stats(account="jupiter")["exit:waited"] == 1
    with pytest.raises(RateLimited):
        slot_acquire(account="jupiter", priority=Priority.POLL)  # polling never waits


def test_the_window_is_shared_by_every_process(settings, clean_redis):
    """Another process (its own interpreter and Redis connection) fills the window; this one finds it full."""
    settings.PROVIDER_RATE_LIMITS = {"jupiter": (3, 60.0)}
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "settings.PROVIDER_RATE_LIMITS = {'jupiter': (3, 60.0)}\n"
        "from trading.ratelimit import Priority, slot_acquire\n"
        "for _ in range(3): slot_acquire(account='jupiter', priority=Priority.EXIT, max_wait=0)\n"
    )
    env = {**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "jarvis.settings", "REDIS_URL": settings.REDIS_URL}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    with pytest.raises(RateLimited):
        slot_acquire(account="jupiter", priority=Priority.EXIT, max_wait=0)


def test_pause_follows_what_the_vendor_said():
    now = 1_800_000_000.0
    assert pause_seconds(status=429, headers={"retry-after": "7"}, now=now) == 7
    assert pause_seconds(status=429, headers={"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"},
                         now=1_800_000_000.0) is not None
    assert pause_seconds(status=429, headers={"x-ratelimit-reset": str(int(now) + 40)}, now=now) == 40
    assert pause_seconds(status=429, headers={"x-ratelimit-reset": "12"}, now=now) == 12  # seconds from now
    assert pause_seconds(status=429, headers={}, now=now) == 5  # PROVIDER_DEFAULT_PAUSE_SECONDS
    assert pause_seconds(status=200, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}, now=now) == 30
    assert pause_seconds(status=200, headers={"x-ratelimit-remaining": "3", "x-ratelimit-reset": "30"}, now=now) is None
    assert pause_seconds(status=200, headers={"x-ratelimit-remaining": "lots"}, now=now) is None


def test_a_429_pauses_the_provider_for_every_caller_as_long_as_retry_after_says(own_sandbox, own_settings):
    sandbox = own_sandbox
    token = sandbox.market.tokens()[0]
    sandbox.faults.set("jupiter", "http_429", retry_after=30)
    venue = JupiterVenue(base_url=own_settings.JUPITER_API_URL, api_key=own_settings.JUPITER_API_KEY, timeout=2)
    try:
        with pytest.raises(VenueRateLimited):
            venue.quote(input_mint=SOL_MINT, output_mint=token.mint, amount=10_000_000, slippage_bps=300)
        assert 28 < provider_paused_for(account="jupiter") <= 30
        before = sandbox.jupiter.requests
        with call_priority(Priority.EXIT), pytest.raises(VenueRateLimited):  # even an exit: the vendor said wait
            venue.quote(input_mint=token.mint, output_mint=SOL_MINT, amount=1000, slippage_bps=300)
        assert prices_refresh(mints=[token.mint]) == {}  # the price feed shares the account: paused too
        assert sandbox.jupiter.requests == before  # nothing reached Jupiter while paused
    finally:
        venue.close()


def test_price_polling_stays_inside_its_share_and_batches(own_sandbox, own_settings):
    sandbox = own_sandbox
    own_settings.PROVIDER_RATE_LIMITS = {"jupiter": (10, 60.0)}
    own_settings.PROVIDER_SHARE_POLL = 40
    mints = [t.mint for t in sandbox.market.tokens()]
    for _ in range(10):
        prices_refresh(mints=mints)  # every mint in one batched request per refresh
    assert sandbox.jupiter.requests == 4  # the poll share of a 10-request window
    assert sandbox.jupiter.rate_limited == 0
    venue = JupiterVenue(base_url=own_settings.JUPITER_API_URL, api_key=own_settings.JUPITER_API_KEY, timeout=2)
    try:  # an exit still finds room in the window the polling left alone
        with call_priority(Priority.EXIT):
            for _ in range(6):
                assert venue.quote(input_mint=mints[0], output_mint=SOL_MINT, amount=10**6, slippage_bps=300).out_amount
    finally:
        venue.close()
    assert sandbox.jupiter.requests == 10 and sandbox.jupiter.rate_limited == 0


def test_the_announced_limit_is_read_in_every_documented_form():
    assert announced_plan({"x-ratelimit-limit": "1000"}) == (1000, None)  # bags.fm: per hour, the plan's window
    assert announced_plan({"x-ratelimit-limit": "100, 100;w=60"}) == (100, 60.0)  # the IETF draft's form
    assert announced_plan({"x-ratelimit-limit": "600;w=60, 10;w=1"}) == (600, 60.0)  # the tightest rate wins
    assert announced_plan({"x-ratelimit-limit": "20;w=1, 600;w=60"}) == (600, 60.0)
    assert announced_plan({"x-ratelimit-limit": "lots"}) is None
    assert announced_plan({"x-ratelimit-limit": "0"}) is None
    assert announced_plan({}) is None


def test_a_vendor_announcing_a_lower_limit_than_the_plan_is_followed_by_every_class(own_sandbox, own_settings):
    """The settings say 10 a minute, the vendor's answers say 3 (a smaller plan, or another desk on the key): polling
    gets its share of 3, not of 10, so an exit still finds room and nothing meets a 429 or a pause."""
    sandbox = own_sandbox
    own_settings.PROVIDER_RATE_LIMITS = {"jupiter": (10, 60.0)}
    own_settings.PROVIDER_SHARE_POLL = 40
    sandbox.jupiter.rate_limit, sandbox.jupiter.rate_window = 3, 60.0
    try:
        mints = [t.mint for t in sandbox.market.tokens()]
        for _ in range(5):
            prices_refresh(mints=mints)
        assert sandbox.jupiter.requests == 1  # 40 % of the announced 3 is one request (of 10 it would be 4)
        venue = JupiterVenue(base_url=own_settings.JUPITER_API_URL, api_key=own_settings.JUPITER_API_KEY, timeout=2)
        try:
            with call_priority(Priority.EXIT):
                assert venue.quote(input_mint=mints[0], output_mint=SOL_MINT, amount=10**6, slippage_bps=300).out_amount
        finally:
            venue.close()
        assert sandbox.jupiter.rate_limited == 0
        # The vendor announcing its plan again at or above the configured one: the configured plan is back.
        limit_observe(account="jupiter", status=200, headers={"x-ratelimit-limit": "10"})
        assert _granted(Priority.POLL, 10) == 2  # 40 % of 10, less the one poll already in the window
    finally:
        sandbox.jupiter.rate_limit, sandbox.jupiter.rate_window = None, 1.0


class _Counting(httpx.HTTPTransport):
    def __init__(self):
        super().__init__()
        self.requests = 0

    def handle_request(self, request):
        self.requests += 1
        return super().handle_request(request)


def test_the_solana_rpc_goes_through_the_same_limiter(own_sandbox, settings, clean_redis, db):
    """The RPC provider's account has a plan too: its window is shared by every process like the venues', and its
    429 pauses it for everyone as long as Retry-After says (the retry does not reach the node again)."""
    settings.PROVIDER_RATE_LIMITS = {"solana_rpc": (4, 60.0)}
    transport = _Counting()
    with SolanaRpc(own_sandbox.rpc_url, transport=transport, backoff=0.001) as rpc:
        for _ in range(3):  # entries (the default class) fill 85 % of the window
            rpc.block_height()
        with pytest.raises(RpcTransientError, match="rate limit"):
            rpc.block_height()
        with call_priority(Priority.EXIT):
            rpc.block_height()  # the window's last request is an exit's
        assert transport.requests == 4
        settings.PROVIDER_RATE_LIMITS = {}
        own_sandbox.faults.set("rpc", "http_429", retry_after=30)
        with pytest.raises(RpcTransientError):
            rpc.block_height()
        assert transport.requests == 5  # the 429, then the retries met the pause, not the node
        assert 28 < provider_paused_for(account="solana_rpc") <= 30
    own_sandbox.faults.clear()
