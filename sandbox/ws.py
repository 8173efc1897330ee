"""The Solana RPC WebSocket (PubSub) API of the sandbox: accountSubscribe and slotSubscribe over the sandbox chain.

Shapes follow the Solana RPC docs (https://solana.com/docs/rpc/websocket/accountsubscribe, .../slotsubscribe,
.../accountunsubscribe): a subscribe request answers a numeric subscription id; an account notification is
`{"jsonrpc": "2.0", "method": "accountNotification", "params": {"result": {"context": {"slot": N}, "value": <account as
getAccountInfo gives it>}, "subscription": id}}`, sent whenever the account's lamports or data change; a slot
notification carries `{"parent", "root", "slot"}`. tests/contracts/schemas/solana_ws.json holds both sides to them.

Each connection runs in its own thread: it answers requests and, between them, compares its subscribed accounts with
what it last sent (every POLL_SECONDS), so a simulator move (sandbox.poolstate) or a landed swap reaches the client in
a few tens of milliseconds. `cut()` drops every connection and refuses new ones until `restore()` (a node going away);
`mute()` keeps connections open but answers and notifies nothing until `restore()` (a node that hangs); `inject(text)`
sends raw text to every connection (a garbled or replayed notification).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading

from solders.pubkey import Pubkey
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from sandbox.chain import Chain
from sandbox.wire import account_json

POLL_SECONDS = 0.02
# websockets logs every listening socket and handshake at INFO; the sandbox prints its own addresses
server_logger = logging.getLogger("sandbox.ws.server")
server_logger.setLevel(logging.WARNING)
ENCODINGS = ("base64", "base58", "base64+zstd", "jsonParsed")


class WsServer:
    def __init__(self, *, chain: Chain):
        self.chain = chain
        self._ids = itertools.count(1)
        self._connections: set[ServerConnection] = set()
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._mute = threading.Event()
        self._server = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self, *, host: str = "127.0.0.1", port: int = 0) -> WsServer:
        self._server = serve(self._handle, host, port, process_request=self._refuse_when_cut, compression=None,
                             logger=server_logger)
        self.host, self.port = host, self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-ws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # --- faults -----------------------------------------------------------------------------------------
    def cut(self) -> None:
        """Drop every connection and refuse new ones until `restore()`."""
        self._cut.set()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close(code=1001, reason="node going away")

    def mute(self) -> None:
        """Keep every connection open, but answer and notify nothing until `restore()`."""
        self._mute.set()

    def restore(self) -> None:
        self._cut.clear()
        self._mute.clear()

    def inject(self, text: str) -> int:
        """Send `text` as it is to every open connection; returns how many got it."""
        with self._lock:
            connections = list(self._connections)
        sent = 0
        for connection in connections:
            try:
                connection.send(text)
                sent += 1
            except ConnectionClosed:
                pass
        return sent

    def _refuse_when_cut(self, connection, request):
        if self._cut.is_set():
            return connection.respond(503, "node going away\n")
        return None

    # --- one connection ---------------------------------------------------------------------------------
    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.add(connection)
        accounts: dict[int, tuple[Pubkey, str, object]] = {}  # id -> (address, encoding, last value sent)
        slots: dict[int, int] = {}  # id -> last slot sent
        try:
            while not self._cut.is_set():
                try:
                    raw = connection.recv(timeout=POLL_SECONDS)
                except TimeoutError:
                    raw = None
                if self._mute.is_set():
                    continue
                if raw is not None:
                    connection.send(json.dumps(self._request(raw, accounts, slots)))
                self._notify(connection, accounts, slots)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.discard(connection)

    def _request(self, raw, accounts: dict, slots: dict) -> dict:
        try:
            request = json.loads(raw)
        except ValueError:
            return {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
        if not isinstance(request, dict):
            return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}, "id": None}
        rid, method, params = request.get("id"), request.get("method"), request.get("params") or []
        try:
            result = self._dispatch(method, params, accounts, slots)
        except (ValueError, TypeError, IndexError) as exc:
            return {"jsonrpc": "2.0", "error": {"code": -32602, "message": f"Invalid params: {exc}"}, "id": rid}
        except LookupError:
            return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": rid}
        return {"jsonrpc": "2.0", "result": result, "id": rid}

    def _dispatch(self, method, params: list, accounts: dict, slots: dict):
        if method == "accountSubscribe":
            address = Pubkey.from_string(str(params[0]))
            config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
            encoding = config.get("encoding", "base64")
            if encoding not in ENCODINGS:
                raise ValueError(f"unknown encoding {encoding!r}")
            sub = next(self._ids)
            accounts[sub] = (address, encoding, self._value(address, encoding))  # notified on change only
            return sub
        if method == "slotSubscribe":
            sub = next(self._ids)
            slots[sub] = -1
            return sub
        if method in ("accountUnsubscribe", "slotUnsubscribe"):
            table = accounts if method == "accountUnsubscribe" else slots
            return table.pop(int(params[0]), None) is not None
        raise LookupError(method)

    def _notify(self, connection: ServerConnection, accounts: dict, slots: dict) -> None:
        slot = self.chain.block_height()
        for sub, (address, encoding, last) in list(accounts.items()):
            value = self._value(address, encoding)
            if value is None or value == last:
                continue  # a missing account has no change to report; one that appears does
            accounts[sub] = (address, encoding, value)
            connection.send(json.dumps({"jsonrpc": "2.0", "method": "accountNotification", "params": {
                "result": {"context": {"slot": slot}, "value": value}, "subscription": sub}}))
        for sub, last in list(slots.items()):
            if slot != last:
                slots[sub] = slot
                connection.send(json.dumps({"jsonrpc": "2.0", "method": "slotNotification", "params": {
                    "result": {"parent": slot - 1, "root": max(0, slot - 32), "slot": slot}, "subscription": sub}}))

    def _value(self, address: Pubkey, encoding: str):
        return account_json(address, self.chain.account(address), encoding=encoding, mint_decimals=self._mint_decimals)

    def _mint_decimals(self, mint) -> int:
        info = self.chain.mint_info(mint)
        return info[0] if info else 0
