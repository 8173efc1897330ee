"""The control API: everything the in-process handles do, over HTTP under `/sandbox/` on the RPC port.

Used by other processes (benches, the chaos run, `make run` demos) and by `RemoteSandbox`, its Python client.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import httpx

from sandbox.faults import FaultError
from sandbox.httpserver import Request, Response
from sandbox.launches import DEFAULT_THRESHOLD
from sandbox.simulator import MarketError

if TYPE_CHECKING:
    from sandbox.server import Sandbox

PREFIX = "/sandbox"


class BadRequest(Exception):
    pass


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise BadRequest(f"{name} must be a decimal number") from None


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None


class ControlApp:
    def __init__(self, sandbox: Sandbox):
        self.sb = sandbox
        self.routes = {
            ("GET", "/state"): self.state,
            ("GET", "/tokens"): lambda r, b: [t.as_dict() for t in self.sb.market.tokens()],
            ("POST", "/tokens"): self.add_token,
            ("POST", "/price"): lambda r, b: {"price": self.sb.market.set_price(b["mint"], _decimal(b["price"], "price"))},
            ("POST", "/move"): lambda r, b: {"price": self.sb.market.move(b["mint"], _decimal(b["pct"], "pct"))},
            ("POST", "/path"): self.force_path,
            ("POST", "/market"): self.market,
            ("POST", "/airdrop"): lambda r, b: {"signature": self.sb.chain.airdrop(b["pubkey"], _int(b["lamports"], "lamports"))},
            ("POST", "/expire-blockhash"): lambda r, b: {"block_height": self.sb.chain.expire_blockhash()},
            ("POST", "/advance"): lambda r, b: {"block_height": self.sb.chain.advance(_int(b.get("blocks", 1), "blocks"))},
            ("GET", "/balance"): self.balance,
            ("POST", "/priority-fees"): self.priority_fees,
            ("GET", "/faults"): lambda r, b: self.sb.faults.active(),
            ("POST", "/faults"): self.set_fault,
            ("DELETE", "/faults"): self.clear_faults,
            ("GET", "/ledger"): self.ledger,
            ("GET", "/ledger/summary"): lambda r, b: self.sb.ledger.summary(),
            ("POST", "/launches"): self.launch_create,
            ("POST", "/launches/live"): lambda r, b: self._launch(self.sb.launches.go_live(str(b["mint"]))),
            ("POST", "/launches/fill"): lambda r, b: self._launch(
                self.sb.launches.fill(str(b["mint"]), _int(b["lamports"], "lamports"))),
            ("GET", "/launches"): lambda r, b: [self._launch(self.sb.launches.get(row["tokenMint"]))
                                                for row in self.sb.launches.feed()],
            ("DELETE", "/ledger"): lambda r, b: self.sb.ledger.clear() or {"cleared": True},
        }

    def priority_fees(self, request: Request, body: dict) -> dict:
        """The series getRecentPrioritizationFees answers (micro-lamports, newest last; [] for landed fees again)."""
        fees = body["fees"]
        if not isinstance(fees, list) or len(fees) > 150:
            raise BadRequest("fees must be a list of at most 150 integers")
        self.sb.chain.priority_fee_series = [max(0, _int(fee, "fees")) for fee in fees]
        return {"fees": self.sb.chain.priority_fee_series}

    def __call__(self, request: Request) -> Response:
        path = request.path[len(PREFIX):] or "/"
        if request.method == "GET" and path.startswith("/ledger/") and path != "/ledger/summary":
            entry = self.sb.ledger.get(path.rsplit("/", 1)[1])
            if entry is None:
                return Response.json({"error": "unknown signature", "code": "not_found"}, status=404)
            return Response.json(entry.as_dict())
        route = self.routes.get((request.method, path))
        if route is None:
            return Response.json({"error": "no such control endpoint", "code": "not_found"}, status=404)
        try:
            body = request.json() if request.body else {}
            return Response.json(route(request, body if isinstance(body, dict) else {}))
        except KeyError as exc:
            return Response.json({"error": f"missing field {exc.args[0]}", "code": "invalid"}, status=400)
        except (BadRequest, MarketError, FaultError, ValueError) as exc:
            return Response.json({"error": str(exc), "code": "invalid"}, status=400)

    def state(self, request: Request, body: dict) -> dict:
        return {
            "block_height": self.sb.chain.block_height(),
            "market_running": self.sb.market.running,
            "sol_usd": str(self.sb.market.sol_usd),
            "tokens": [t.as_dict() for t in self.sb.market.tokens()],
            "faults": self.sb.faults.active(),
            "ledger": self.sb.ledger.summary(),
            "urls": self.sb.urls(),
        }

    def add_token(self, request: Request, body: dict) -> dict:
        fields = {k: body[k] for k in ("name", "token_program") if k in body}
        for name in ("liquidity_lamports", "transfer_fee_bps"):
            if name in body:
                fields[name] = _int(body[name], name)
        for name in ("volatility", "drift", "jump_probability"):
            if name in body:
                fields[name] = _decimal(body[name], name)
        token = self.sb.market.add_token(symbol=str(body["symbol"]), decimals=_int(body["decimals"], "decimals"),
                                         price=_decimal(body["price"], "price"), **fields)
        self.sb.pools.ensure()
        return token.as_dict()

    def launch_create(self, request: Request, body: dict) -> dict:
        """A bags.fm launch on a bonding curve (sandbox/launches.py); ``launched`` starts it at PRE_GRAD."""
        launch = self.sb.launches.create(
            symbol=str(body["symbol"]), price=_decimal(body["price"], "price"), decimals=_int(body.get("decimals", 6), "decimals"),
            threshold_lamports=_int(body.get("threshold_lamports", DEFAULT_THRESHOLD), "threshold_lamports"),
            launched=bool(body.get("launched", False)))
        self.sb.pools.ensure()
        return self._launch(launch)

    def _launch(self, launch) -> dict:
        self.sb.launches.advance()
        return self.sb.launches.as_dict(launch)

    def force_path(self, request: Request, body: dict) -> dict:
        prices = [_decimal(p, "prices") for p in body["prices"]]
        self.sb.market.force_path(body["mint"], prices)
        return {"mint": body["mint"], "forced": len(prices)}

    def market(self, request: Request, body: dict) -> dict:
        if "running" in body:
            self.sb.market.resume() if body["running"] else self.sb.market.pause()
        if "step" in body:
            self.sb.market.step(_int(body["step"], "step"))
        return {"running": self.sb.market.running}

    def balance(self, request: Request, body: dict) -> dict:
        owner = request.query.get("owner")
        if not owner:
            raise BadRequest("owner is required")
        out = {"owner": owner, "lamports": self.sb.chain.sol_balance(owner)}
        if request.query.get("mint"):
            out["mint"] = request.query["mint"]
            out["amount"] = self.sb.chain.token_balance(owner, request.query["mint"])
        return out

    def set_fault(self, request: Request, body: dict) -> dict:
        params = dict(body.get("params") or {})
        probability = float(body.get("probability", 1))
        fault = self.sb.faults.set(str(body["service"]), str(body["fault"]), count=body.get("count"),
                                   methods=body.get("methods") or (), probability=probability, **params)
        return fault.as_dict()

    def clear_faults(self, request: Request, body: dict) -> dict:
        self.sb.faults.clear(request.query.get("service"), request.query.get("fault"))
        return {"faults": self.sb.faults.active()}

    def ledger(self, request: Request, body: dict) -> list[dict]:
        q = request.query
        entries = self.sb.ledger.all(status=q.get("status"), owner=q.get("owner"), mint=q.get("mint"))
        if q.get("client_id"):
            entries = [e for e in entries if e.client_id == q["client_id"]]
        if q.get("swaps") == "true":
            entries = [e for e in entries if e.swap is not None]
        return [e.as_dict() for e in entries]


class RemoteSandbox:
    """A client of the control API, for processes that did not start the sandbox themselves."""

    def __init__(self, control_url: str, *, timeout: float = 5.0):
        self.http = httpx.Client(base_url=control_url.rstrip("/"), timeout=timeout)

    def _call(self, method: str, path: str, **kwargs) -> Any:
        response = self.http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict:
        return self._call("GET", "/state")

    def set_price(self, mint: str, price: Decimal) -> Decimal:
        return Decimal(self._call("POST", "/price", json={"mint": mint, "price": str(price)})["price"])

    def move(self, mint: str, pct: Decimal) -> Decimal:
        return Decimal(self._call("POST", "/move", json={"mint": mint, "pct": str(pct)})["price"])

    def force_path(self, mint: str, prices) -> None:
        self._call("POST", "/path", json={"mint": mint, "prices": [str(p) for p in prices]})

    def step(self, n: int = 1) -> None:
        self._call("POST", "/market", json={"step": n})

    def set_market_running(self, running: bool) -> None:
        self._call("POST", "/market", json={"running": running})

    def airdrop(self, pubkey: str, lamports: int) -> str:
        return self._call("POST", "/airdrop", json={"pubkey": str(pubkey), "lamports": lamports})["signature"]

    def expire_blockhash(self) -> int:
        return self._call("POST", "/expire-blockhash")["block_height"]

    def priority_fees(self, fees: list[int]) -> list[int]:
        """Set the series getRecentPrioritizationFees answers (newest last); [] for the landed fees again."""
        return self._call("POST", "/priority-fees", json={"fees": fees})["fees"]

    def balance(self, owner: str, mint: str | None = None) -> dict:
        params = {"owner": str(owner), **({"mint": mint} if mint else {})}
        return self._call("GET", "/balance", params=params)

    def set_fault(self, service: str, fault: str, *, count: int | None = None, methods=(), probability: float = 1.0,
                  **params) -> dict:
        body = {"service": service, "fault": fault, "count": count, "methods": list(methods),
                "probability": probability, "params": params}
        return self._call("POST", "/faults", json=body)

    def clear_faults(self, service: str | None = None) -> None:
        self._call("DELETE", "/faults", params={"service": service} if service else None)

    def ledger(self, **filters) -> list[dict]:
        return self._call("GET", "/ledger", params={k: v for k, v in filters.items() if v is not None})

    def ledger_summary(self) -> dict:
        return self._call("GET", "/ledger/summary")

    def launch_create(self, symbol: str, price: Decimal, *, threshold_lamports: int, launched: bool = False) -> dict:
        return self._call("POST", "/launches", json={"symbol": symbol, "price": str(price),
                                                      "threshold_lamports": threshold_lamports, "launched": launched})

    def launch_live(self, mint: str) -> dict:
        return self._call("POST", "/launches/live", json={"mint": mint})

    def launch_fill(self, mint: str, lamports: int) -> dict:
        return self._call("POST", "/launches/fill", json={"mint": mint, "lamports": lamports})

    def close(self) -> None:
        self.http.close()
