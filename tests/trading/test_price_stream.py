"""The prices role against the sandbox's RPC WebSocket: streamed prices cached with their slot, price events, bad
updates ignored, a quiet or cut stream reconnecting, readiness showing it, polling covering the gap, and an exit fired by
a stream event through a real worker with no sweep running."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from monitoring.checks import CheckFailed, check_price_stream
from monitoring.services import heartbeat_record
from sandbox.poolstate import pool_state_bytes
from tests.conftest import wait_for
from trading.models import Order
from trading.models import LimitOrder, Position
from trading.prices import PricePoint, price_get, price_store_slotted
from trading.pricestream import EVENT_MARKER, PriceStream, price_event_publish
from trading.services.standing import limit_sell_create
from trading.tpsl import runner
from trading.tpsl.stream import mint_evaluate
from trading.tpsl.sweep import tpsl_sweep

E = Decimal("0.0001")


@pytest.fixture
def stream_settings(price_feed, settings):
    settings.SOLANA_WS_URL = price_feed.ws_url
    price_feed.ws.restore()
    yield settings
    price_feed.ws.restore()


@contextmanager
def running(stream: PriceStream):
    stop = threading.Event()

    def target():
        try:
            stream.run(stop)
        finally:
            connection.close()

    thread = threading.Thread(target=target, name="price-stream", daemon=True)
    thread.start()
    try:
        yield stream
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def subscribed(stream: PriceStream, count: int = 1) -> bool:
    return stream.connected and stream.status()["subscriptions"] >= count


def streamed(mint: str, price: Decimal, *, after_slot: int = -1):
    point = price_get(mint=mint)
    if point is None or point.source != "stream" or point.slot is None or point.slot < after_slot:
        return None
    return point if abs(point.price / price - 1) < Decimal("1e-9") else None


def beat(status: dict) -> None:
    heartbeat_record(component="price_stream", detail=status)


def test_a_stream_update_is_cached_with_its_slot_and_queues_one_evaluation(stream_settings, price_feed, listed_token,
                                                                           clean_redis):
    token = listed_token(price=E)
    stream = PriceStream(url=stream_settings.SOLANA_WS_URL, watch=lambda: {token.mint})
    with running(stream):
        wait_for(lambda: subscribed(stream), message="the subscription")
        height = price_feed.chain.block_height()
        price_feed.market.set_price(token.mint, E * 2)
        point = wait_for(lambda: streamed(token.mint, E * 2), message="the streamed price")
    assert point.slot >= height and point.at > 0 and isinstance(point.price, Decimal)
    assert clean_redis.exists(EVENT_MARKER + token.mint)  # one evaluation queued and waiting
    assert price_event_publish(mint=token.mint) is False  # a second event for the mint queues nothing more


def _notification(sub: int, slot: int, data: bytes) -> str:
    value = {"data": [base64.b64encode(data).decode(), "base64"], "executable": False, "lamports": 1,
             "owner": "11111111111111111111111111111111", "rentEpoch": 0, "space": len(data)}
    return json.dumps({"jsonrpc": "2.0", "method": "accountNotification",
                       "params": {"result": {"context": {"slot": slot}, "value": value}, "subscription": sub}})


def test_garbled_or_older_updates_change_nothing(stream_settings, price_feed, listed_token, clean_redis):
    token, other = listed_token(price=E), listed_token(price=E)
    sim = price_feed.market.token(token.mint)
    stream = PriceStream(url=stream_settings.SOLANA_WS_URL, watch=lambda: {token.mint, "not-a-public-key"})
    with running(stream):
        wait_for(lambda: subscribed(stream), message="the subscription")
        price_feed.market.set_price(token.mint, E * 3)
        good = wait_for(lambda: streamed(token.mint, E * 3), message="the streamed price")
        (sub,) = stream.subscriptions()
        older = pool_state_bytes(mint=price_feed.pools.pool(token.mint).mint, decimals=sim.decimals, price=E * 9,
                                 liquidity_lamports=sim.liquidity_lamports, real_sol=1, real_token=1)
        foreign = pool_state_bytes(mint=price_feed.pools.pool(other.mint).mint, decimals=sim.decimals, price=E * 9,
                                   liquidity_lamports=sim.liquidity_lamports, real_sol=1, real_token=1)
        ignored = stream.ignored
        for text in ("{garbled", json.dumps([1, 2]), _notification(sub, good.slot - 3, older),
                     _notification(sub, good.slot + 10, b"\x00" * 81), _notification(sub, good.slot + 10, foreign),
                     _notification(sub, good.slot + 10, older[:40]), _notification(sub + 999, good.slot + 10, older)):
            price_feed.ws.inject(text)
        wait_for(lambda: stream.ignored >= ignored + 7, message="the bad updates read")
        assert stream.connected
    assert price_get(mint=token.mint) == good


def test_a_quiet_stream_is_dropped_and_reconnected(stream_settings, price_feed, listed_token, clean_redis):
    stream_settings.PRICE_STREAM_QUIET_SECONDS = 1
    token = listed_token(price=E)
    stream = PriceStream(url=stream_settings.SOLANA_WS_URL, watch=lambda: {token.mint})
    with running(stream):
        wait_for(lambda: subscribed(stream), message="the subscription")
        price_feed.ws.mute()
        wait_for(lambda: "StreamQuiet" in stream.last_error, message="the quiet stream noticed")
        price_feed.ws.restore()
        wait_for(lambda: subscribed(stream) and stream.connects >= 2, message="the stream back")
        price_feed.market.set_price(token.mint, E * 4)
        wait_for(lambda: streamed(token.mint, E * 4), message="a price after the reconnect")


def _readiness() -> str:
    try:
        return check_price_stream()
    except CheckFailed as exc:
        return f"down: {exc}"


def test_a_cut_stream_shows_in_readiness_polling_covers_the_gap_and_it_reconnects(
        stream_settings, price_feed, listed_token, make_position, trader, clean_redis):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E)
    stream = PriceStream(url=stream_settings.SOLANA_WS_URL, on_beat=beat, watch=lambda: {token.mint})
    with running(stream):
        wait_for(lambda: subscribed(stream), message="the subscription")
        wait_for(lambda: _readiness().startswith("connected, 1 subscription"), message="readiness up")
        price_feed.ws.cut()
        down = wait_for(lambda: _readiness() if _readiness().startswith("down") else None, message="readiness down")
        assert "disconnected" in down
        price_feed.market.set_price(token.mint, E / 3)  # through the stop while the stream is down
        report = tpsl_sweep()  # the beat sweep polls the price feed
        assert len(report.claimed) == 1
        assert Order.objects.get(position=position, side="sell").reason == "sl"
        assert price_get(mint=token.mint).source != "stream"
        price_feed.ws.restore()
        wait_for(lambda: subscribed(stream) and stream.connects >= 2, message="the stream back")
        wait_for(lambda: _readiness().startswith("connected"), message="readiness up again")
        price_feed.market.set_price(token.mint, E / 4)
        wait_for(lambda: streamed(token.mint, E / 4), message="a streamed price after the cut")


@pytest.mark.django_db(transaction=True)
def test_an_exit_fires_from_a_stream_event_with_no_sweep_running(stream_settings, celery_worker, price_feed,
                                                                 listed_token, make_position, trader):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E, size=5_000_000)
    stream = PriceStream(url=stream_settings.SOLANA_WS_URL)  # watches the mints of open positions
    with running(stream):
        wait_for(lambda: subscribed(stream), message="the open position's mint subscribed")
        price_feed.market.set_price(token.mint, E / 3)
        sale = wait_for(lambda: Order.objects.filter(position=position, side="sell", status="confirmed").first(),
                        message="the exit sold by the worker")
    assert (sale.reason, sale.amount_in) == ("sl", 5_000_000)
    assert Order.objects.filter(position=position, side="sell").count() == 1


def test_manage_py_run_prices_streams_beats_and_stops_on_sigterm(stream_settings, price_feed, clean_redis):
    env = {**os.environ, "SOLANA_WS_URL": price_feed.ws_url, "JARVIS_IGNORE_DOTENV": "true"}
    proc = subprocess.Popen([sys.executable, str(settings.BASE_DIR / "manage.py"), "run_prices"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=settings.BASE_DIR)
    try:
        wait_for(lambda: _readiness().startswith("connected"), timeout=60, message="the role's heartbeat, connected")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "streaming from " + price_feed.ws_url in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.django_db(transaction=True)
def test_a_stream_event_racing_the_sweep_sells_once(stream_settings, celery_worker, price_feed, listed_token,
                                                    make_position, trader):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E, size=3_000_000)
    stream = PriceStream(url=stream_settings.SOLANA_WS_URL)

    def swept_until_sold():
        runner.redis_client().delete(runner.START_KEY.format(shard=0, shards=1))  # no throttle: sweep every time
        runner.sweep_locked()
        return Order.objects.filter(position=position, side="sell", status="confirmed").first()

    with running(stream):
        wait_for(lambda: subscribed(stream), message="the open position's mint subscribed")
        price_feed.market.set_price(token.mint, E / 3)  # the event and these sweeps go for the same stop
        sale = wait_for(swept_until_sold, interval=0.01, message="the exit sold")
        for _ in range(3):
            swept_until_sold()
    assert sale.reason == "sl" and Order.objects.filter(position=position, side="sell").count() == 1


def test_a_database_error_reading_the_watched_mints_does_not_stop_the_stream(stream_settings, price_feed,
                                                                               listed_token, clean_redis):
    stream_settings.PRICE_STREAM_WATCH_SECONDS = 1
    token = listed_token(price=E)
    calls = []

    def watch():
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseError("the database went away")
        return {token.mint}

    stream = PriceStream(url=stream_settings.SOLANA_WS_URL, watch=watch)
    with running(stream):
        wait_for(lambda: subscribed(stream), message="the subscription at the next watch round")
        assert stream.connects == 1
        price_feed.market.set_price(token.mint, E * 5)
        wait_for(lambda: streamed(token.mint, E * 5), message="the streamed price")


def test_an_event_evaluates_only_its_mint_and_leaves_the_clock_to_the_sweep(price_feed, listed_token, make_position,
                                                                         trader, clean_redis):
    hit, other = listed_token(price=E), listed_token(price=E)
    stopped = make_position(trader=trader, token=hit, entry_price=E)
    held = make_position(trader=trader, token=hit, entry_price=E / 3)  # at E / 3: neither its stop nor a take-profit
    timed_out = make_position(trader=trader, token=hit, entry_price=E / 3)
    Position.objects.filter(id=timed_out.id).update(time_stop_at=timezone.now() - timedelta(minutes=1))
    elsewhere = make_position(trader=trader, token=other, entry_price=E)
    expires = timezone.now() + timedelta(hours=1)
    limit = limit_sell_create(trader=trader, position_id=held.id, percent=50, price=E / 2, expires_at=expires)
    other_limit = limit_sell_create(trader=trader, position_id=elsewhere.id, percent=50, price=E / 2, expires_at=expires)
    for token in (hit, other):  # both mints' cached prices are through their triggers
        assert price_store_slotted(mint=token.mint, point=PricePoint(E / 3, time.time(), "stream", slot=10**9))

    report = mint_evaluate(mint=hit.mint)

    assert (report.mints, report.candidates, report.limits) == (1, 1, 1)
    assert Order.objects.get(position=stopped, side="sell").reason == "sl"
    assert Order.objects.get(position=held, side="sell").reason == "limit"
    limit.refresh_from_db()
    other_limit.refresh_from_db()
    assert (limit.status, other_limit.status) == (LimitOrder.Status.PLACED, LimitOrder.Status.ACTIVE)
    assert not Order.objects.filter(position__in=[elsewhere, timed_out], side="sell").exists()
    assert mint_evaluate(mint=hit.mint).claimed == []  # the same event again: the claim holds, nothing more
    assert Order.objects.filter(side="sell").count() == 2
