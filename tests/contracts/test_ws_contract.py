"""Solana RPC WebSocket: what the prices role sends and what the sandbox node pushes, recorded on the wire through a
relay, held to the PubSub docs (tests/contracts/schemas/solana_ws.json); and a notification when a swap lands."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve

from sandbox.poolstate import pool_state_address
from tests.conftest import wait_for
from tests.contracts.contract import check, problems
from tests.contracts.test_rpc_contract import _signed_buy
from trading.chain.rpc import SolanaRpc
from trading.pricestream import PriceStream

SOL = "So11111111111111111111111111111111111111112"


class Relay:
    """A WebSocket relay that keeps every message in both directions (sent: client -> node; pushed: node -> client)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.sent: list[dict] = []
        self.pushed: list[dict] = []
        self.server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, client) -> None:
        with connect(self.upstream, compression=None) as node:
            def down():
                try:
                    for message in node:
                        self.pushed.append(json.loads(message))
                        client.send(message)
                except ConnectionClosed:
                    pass

            threading.Thread(target=down, daemon=True).start()
            try:
                for message in client:
                    self.sent.append(json.loads(message))
                    node.send(message)
            except ConnectionClosed:
                pass

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def relay(sandbox_settings, sandbox):
    relay = Relay(sandbox.ws_url)
    yield relay
    relay.close()


def test_the_prices_role_and_the_sandbox_node_follow_the_pubsub_docs(sandbox, relay, sandbox_trader, clean_redis):
    jrvs = sandbox.market.by_symbol("JRVS")
    stream = PriceStream(url=relay.url, watch=lambda: {jrvs.mint})
    stop = threading.Event()
    thread = threading.Thread(target=stream.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: stream.connected and stream.subscriptions(), message="the subscription")
        sandbox.market.set_price(jrvs.mint, Decimal("0.0007"))  # a simulator move
        wait_for(lambda: stream.updates >= 1, message="the move streamed")
        notified = len([m for m in relay.pushed if m.get("method") == "accountNotification"])
        signed, signature = _signed_buy(sandbox, sandbox_trader)  # a swap landing moves the pool's balances
        with SolanaRpc(sandbox.rpc_url, timeout=5) as rpc:
            rpc.send_raw(signed)
            wait_for(lambda: rpc.signature_statuses([signature])[0] is not None, message="the swap landed")
        pool = str(pool_state_address(jrvs.mint))
        wait_for(lambda: len([m for m in relay.pushed if m.get("method") == "accountNotification"]) > notified,
                 message="the swap's notification")
    finally:
        stop.set()
        thread.join(10)
    methods = {m["method"] for m in relay.sent}
    assert {"accountSubscribe", "slotSubscribe"} <= methods
    assert any(m["method"] == "accountSubscribe" and m["params"][0] == pool for m in relay.sent)
    for message in relay.sent:
        check("solana_ws", "request", message)
    kinds = set()
    for message in relay.pushed:
        kind = message.get("method") or "subscribe_response"
        check("solana_ws", kind, message)
        kinds.add(kind)
    assert kinds == {"subscribe_response", "accountNotification", "slotNotification"}


def test_the_schema_refuses_what_the_docs_do_not_allow():
    notification = {"jsonrpc": "2.0", "method": "accountNotification", "params": {"result": {
        "context": {"slot": 5}, "value": {"data": ["AA==", "base64"], "executable": False, "lamports": 1,
                                          "owner": SOL, "rentEpoch": 0, "space": 1}}, "subscription": 3}}
    assert not problems("solana_ws", "accountNotification", notification)
    without_slot = json.loads(json.dumps(notification))
    del without_slot["params"]["result"]["context"]["slot"]
    assert problems("solana_ws", "accountNotification", without_slot)
    assert problems("solana_ws", "request", {"jsonrpc": "2.0", "id": 1, "method": "accountSubscribe",
                                             "params": [SOL, {"encoding": "hex"}]})
