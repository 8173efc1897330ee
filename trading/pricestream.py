"""The price stream (the `prices` role): Solana RPC WebSocket account subscriptions turned into prices and price events.

For each watched mint (the mints of open positions and active limit orders) the stream subscribes (`accountSubscribe`, base64) to the account
that prices it: the mint's pool state, whose reserves give the price. Each notification becomes a Decimal price (SOL
per whole token) cached in Redis with its slot and time (trading.prices.price_store_slotted: an update older than the
last slot written for the mint is dropped), then a price event: `trading.tpsl_evaluate_mint` queued on the `tpsl` queue,
at most one waiting per mint (a marker the task clears when it starts).

Venues: the pool layout decoded here is the sandbox AMM's (sandbox/poolstate.py documents it; the contract test holds
both sides to one layout). A mint whose venue has no decoder here has no stream, and polling (the beat sweep's price
refresh) prices it, as it prices every mint while the stream is down.

Faults: a message that is not JSON, not a notification of ours, or whose account data does not decode changes nothing
(logged once per kind). No message at all for PRICE_STREAM_QUIET_SECONDS (a slot subscription keeps a healthy node
talking several times a second) or a dropped connection: reconnect with exponential backoff and jitter. The state
(connected, subscriptions, last message) goes to `on_beat` about once a second, connected or not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import struct
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import redis
from django.conf import settings
from kombu.exceptions import OperationalError
from django.db import DatabaseError
from solders.pubkey import Pubkey
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from jarvis.redis import redis_client
from trading.models import LimitOrder, Position, PositionStatus
from trading.prices import PricePoint, price_store_slotted

logger = logging.getLogger(__name__)

# The sandbox AMM (sandbox/poolstate.py): pool state at the PDA of [b"pool", mint], 81 bytes little-endian.
SANDBOX_AMM = Pubkey(hashlib.sha256(b"jarvis-sandbox-amm").digest())
POOL_LAYOUT = struct.Struct("<8s32sBQ16sQQ")
POOL_DISCRIMINATOR = b"JRVSPOOL"
LAMPORTS_PER_SOL = 10**9
EVENT_MARKER = "jarvis:tpsl:mint-queued:"
EVENT_MARKER_SECONDS = 5  # a lost task frees its mint after this long
BEAT_SECONDS = 1.0
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 10.0


class StreamQuiet(Exception):
    """No message within PRICE_STREAM_QUIET_SECONDS: the connection is treated as dead."""


def pool_account(mint: str) -> str:
    return str(Pubkey.find_program_address([b"pool", bytes(Pubkey.from_string(mint))], SANDBOX_AMM)[0])


def pool_price(data: bytes, *, mint: str) -> Decimal | None:
    """SOL per whole token from a pool state's data, or None when the data is not a pool of `mint` (garbled)."""
    if len(data) != POOL_LAYOUT.size:
        return None
    tag, pool_mint, decimals, sol, token, _, _ = POOL_LAYOUT.unpack(data)
    token = int.from_bytes(token, "little")
    if tag != POOL_DISCRIMINATOR or str(Pubkey(pool_mint)) != mint or sol <= 0 or token <= 0:
        return None
    return Decimal(sol) * Decimal(10) ** decimals / (Decimal(token) * LAMPORTS_PER_SOL)


def account_notification(message) -> tuple[int, int, bytes] | None:
    """(subscription, slot, account data) of an accountNotification with base64 data, or None for anything else."""
    if not isinstance(message, dict) or message.get("method") != "accountNotification":
        return None
    params = message.get("params")
    try:
        result, sub = params["result"], params["subscription"]
        slot, data = result["context"]["slot"], result["value"]["data"]
        if type(sub) is not int or type(slot) is not int or slot < 0 or data[1] != "base64":
            return None
        return sub, slot, base64.b64decode(data[0], validate=True)
    except (KeyError, TypeError, IndexError, ValueError):
        return None


def watched_mints() -> set[str]:
    """The mints the stream prices: every token of an open position or an active limit order."""
    positions = Position.objects.filter(status=PositionStatus.OPEN).values_list("token__mint", flat=True).distinct()
    limits = LimitOrder.objects.filter(status=LimitOrder.Status.ACTIVE).values_list("token__mint", flat=True).distinct()
    return set(positions) | set(limits)


def price_event_publish(*, mint: str) -> bool:
    """Queue one evaluation of `mint` unless one is already waiting (the marker); True when queued."""
    if not redis_client().set(EVENT_MARKER + mint, "1", nx=True, ex=EVENT_MARKER_SECONDS):
        return False
    from trading.tpsl.tasks import tpsl_evaluate_mint

    tpsl_evaluate_mint.delay(mint)
    return True


def stream_update_apply(*, mint: str, slot: int, data: bytes, at: float | None = None) -> PricePoint | None:
    """One account update: the price cached with its slot and a price event; None (nothing changed) when the data
    does not decode or a newer slot was already written."""
    price = pool_price(data, mint=mint)
    if price is None:
        return None
    point = PricePoint(price, time.time() if at is None else at, "stream", slot=slot)
    if not price_store_slotted(mint=mint, point=point):
        return None
    price_event_publish(mint=mint)
    return point


class PriceStream:
    def __init__(self, *, url: str, on_beat: Callable[[dict], None] | None = None,
                 watch: Callable[[], set[str]] = watched_mints):
        self.url = url
        self.on_beat = on_beat
        self.watch = watch
        self.connected = False
        self.connects = 0
        self.last_message = 0.0
        self.last_error = ""
        self.updates = self.ignored = 0
        self._subs: dict[int, str] = {}  # subscription id -> mint
        self._mints: dict[str, int | None] = {}  # mint -> subscription id (None while the answer is pending)
        self._pending: dict[int, str] = {}  # request id -> mint
        self._ids = 0
        self._beat_at = 0.0
        self._watch_at = 0.0

    # --- the loop ---------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        delay = BACKOFF_FIRST
        while not stop.is_set():
            try:
                with connect(self.url, open_timeout=5, close_timeout=1, compression=None) as ws:
                    self._session(ws, stop)
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, StreamQuiet, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                logger.warning("price stream lost (%s); reconnecting in %.2f s", type(exc).__name__, delay)
            self._disconnected()
            if self.last_message and time.time() - self.last_message < settings.PRICE_STREAM_QUIET_SECONDS:
                delay = BACKOFF_FIRST  # the last session was healthy: start the backoff again
            self._wait(stop, delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, BACKOFF_MAX)
        self._disconnected()

    def _wait(self, stop: threading.Event, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < end:
            self._beat(force=True)
            stop.wait(min(BEAT_SECONDS, max(0.0, end - time.monotonic())))

    def _session(self, ws: ClientConnection, stop: threading.Event) -> None:
        self.connected, self.connects = True, self.connects + 1
        self.last_message = time.time()
        self._send(ws, "slotSubscribe", [])
        self._watch_at = 0.0
        while not stop.is_set():
            now = time.time()
            if now - self._watch_at >= settings.PRICE_STREAM_WATCH_SECONDS:
                self._watch_at = now
                try:
                    self._resubscribe(ws, self.watch())
                except DatabaseError as exc:  # keep the subscriptions we have; the next round asks again
                    logger.warning("price stream: the watched mints could not be read: %s", type(exc).__name__)
            self._beat()
            try:
                raw = ws.recv(timeout=0.5)
            except TimeoutError:
                raw = None
            if raw is not None:
                self.last_message = time.time()
                try:
                    self.handle(raw)
                except (redis.RedisError, OperationalError) as exc:  # lost: polling and the next update cover it
                    logger.warning("price stream: update not cached: %s", type(exc).__name__)
            elif time.time() - self.last_message > settings.PRICE_STREAM_QUIET_SECONDS:
                raise StreamQuiet(f"no message for {settings.PRICE_STREAM_QUIET_SECONDS} s")

    def _disconnected(self) -> None:
        self.connected = False
        self._subs.clear()
        self._mints.clear()
        self._pending.clear()
        self._beat(force=True)

    # --- messages ---------------------------------------------------------------------------------------
    def _send(self, ws: ClientConnection, method: str, params: list) -> int:
        self._ids += 1
        ws.send(json.dumps({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}))
        return self._ids

    def _resubscribe(self, ws: ClientConnection, wanted: set[str]) -> None:
        for mint in sorted(wanted - set(self._mints)):
            try:
                account = pool_account(mint)
            except ValueError:
                continue  # not a public key: nothing on chain to watch (polling answers "no data" for it)
            request = self._send(ws, "accountSubscribe", [account, {"encoding": "base64", "commitment": "confirmed"}])
            self._pending[request] = mint
            self._mints[mint] = None
        for mint in set(self._mints) - wanted:
            sub = self._mints.pop(mint)
            if sub is not None:
                self._subs.pop(sub, None)
                self._send(ws, "accountUnsubscribe", [sub])

    def handle(self, raw) -> PricePoint | None:
        """One message from the node: a subscription answer, a notification, or something that changes nothing."""
        try:
            message = json.loads(raw)
        except (ValueError, TypeError):
            return self._ignore("not JSON")
        if isinstance(message, dict) and "id" in message and ("result" in message or "error" in message):
            mint = self._pending.pop(message["id"], None) if isinstance(message["id"], int) else None
            if mint is not None and type(message.get("result")) is int and mint in self._mints:
                self._mints[mint] = message["result"]
                self._subs[message["result"]] = mint
            elif "error" in message:
                if mint is not None:
                    self._mints.pop(mint, None)  # asked again at the next watch round
                logger.warning("price stream: request for %s refused: %s", mint or "a subscription",
                               str(message["error"])[:200])
            return None  # the answer to a request (subscribe, unsubscribe): no price in it
        if isinstance(message, dict) and message.get("method") == "slotNotification":
            return None
        parsed = account_notification(message)
        if parsed is None or parsed[0] not in self._subs:
            return self._ignore("not a notification of ours")
        sub, slot, data = parsed
        point = stream_update_apply(mint=self._subs[sub], slot=slot, data=data)
        if point is None:
            return self._ignore("undecodable or older than the last slot")
        self.updates += 1
        return point

    def _ignore(self, why: str) -> None:
        self.ignored += 1
        logger.info("price stream: message ignored (%s)", why)
        return None

    def subscriptions(self) -> list[int]:
        return list(self._subs)

    def status(self) -> dict:
        return {"connected": self.connected, "connects": self.connects, "subscriptions": len(self._subs),
                "last_message": self.last_message, "updates": self.updates, "ignored": self.ignored,
                "last_error": self.last_error}

    def _beat(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_beat is None or (not force and now - self._beat_at < BEAT_SECONDS):
            return
        self._beat_at = now
        try:
            self.on_beat(self.status())
        except Exception:  # a heartbeat that fails must not stop the stream; readiness sees the missing beat
            logger.exception("price stream heartbeat failed")
