"""The sandbox's RPC WebSocket: account notifications as the simulator moves a price, slot notifications, faults."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from sandbox.poolstate import pool_state_address
from trading.pricestream import account_notification, pool_price


@pytest.fixture
def jrvs(sandbox_settings, sandbox):
    return sandbox.market.by_symbol("JRVS")


def _subscribe(ws, method: str, params: list) -> int:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
    answer = json.loads(ws.recv(timeout=5))
    assert answer["id"] == 7 and type(answer["result"]) is int, answer
    return answer["result"]


def _next(ws, method: str) -> dict:
    while True:
        message = json.loads(ws.recv(timeout=5))
        if message.get("method") == method:
            return message


def test_account_subscribers_are_notified_as_the_simulator_moves_a_price(sandbox, jrvs):
    address = str(pool_state_address(jrvs.mint))
    with connect(sandbox.ws_url) as ws:
        sub = _subscribe(ws, "accountSubscribe", [address, {"encoding": "base64", "commitment": "confirmed"}])
        height = sandbox.chain.block_height()
        sandbox.market.set_price(jrvs.mint, Decimal("0.0009"))
        subscription, slot, data = account_notification(_next(ws, "accountNotification"))
        assert subscription == sub and slot >= height
        assert abs(pool_price(data, mint=jrvs.mint) / Decimal("0.0009") - 1) < Decimal("1e-9")
        sandbox.market.set_price(jrvs.mint, Decimal("0.0003"))
        _, later, data = account_notification(_next(ws, "accountNotification"))
        assert later >= slot and abs(pool_price(data, mint=jrvs.mint) / Decimal("0.0003") - 1) < Decimal("1e-9")


def test_slot_notifications_follow_the_chain_and_unsubscribe_stops_them(sandbox, jrvs):
    with connect(sandbox.ws_url) as ws:
        sub = _subscribe(ws, "slotSubscribe", [])
        first = _next(ws, "slotNotification")["params"]["result"]["slot"]
        second = _next(ws, "slotNotification")["params"]["result"]["slot"]
        assert second > first
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 8, "method": "slotUnsubscribe", "params": [sub]}))
        while (answer := json.loads(ws.recv(timeout=5))).get("id") != 8:
            pass
        assert answer["result"] is True


def test_bad_requests_get_json_rpc_errors_and_a_cut_node_refuses_connections(sandbox, jrvs):
    with connect(sandbox.ws_url) as ws:
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=5))["error"]["code"] == -32700
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "accountSubscribe", "params": ["not-a-key"]}))
        assert json.loads(ws.recv(timeout=5))["error"]["code"] == -32602
    sandbox.ws.cut()
    try:
        with pytest.raises(InvalidStatus):
            connect(sandbox.ws_url, open_timeout=5)
    finally:
        sandbox.ws.restore()
    with connect(sandbox.ws_url) as ws:
        assert _subscribe(ws, "slotSubscribe", []) > 0
