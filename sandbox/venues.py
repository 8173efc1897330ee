"""What the bags.fm and Jupiter stand-ins share: key checks, faults, quote and swap building over the sandbox pools."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass

from solders.pubkey import Pubkey

from sandbox.faults import Faults
from sandbox.httpserver import Request, Response
from sandbox.pools import NoRoute, Pools, Quote
from sandbox.simulator import SOL_MINT

AUTO_PRIORITY_FEE = 10_000  # lamports, the fee a venue that chooses it itself (bags.fm) puts in the sandbox
PRIORITY_LEVELS = {"medium": 5_000, "high": 20_000, "veryHigh": 100_000}


class VenueError(Exception):
    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True)
class SwapRequest:
    quote: Quote
    min_out: int
    owner: Pubkey
    request_id: str


class Venue:
    """Shared behaviour; subclasses render each venue's own shapes."""

    service = ""
    label = ""
    no_route_message = "Could not find any route"  # each venue's own wording (see the subclasses)

    def __init__(self, *, pools: Pools, faults: Faults, api_key: str, rate_limit: int | None = None,
                 rate_window: float = 1.0):
        self.pools = pools
        self.faults = faults
        self.api_key = api_key
        self.routes: dict = {}
        # The plan's limit: at most `rate_limit` requests per key in any `rate_window` seconds (a sliding window, as
        # Jupiter documents its own); None: no limit. Every answer then carries X-RateLimit-Limit/-Remaining/-Reset.
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._rate_lock = threading.Lock()
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self.requests = 0  # answered with a valid key (any status)
        self.rate_limited = 0  # of which 429 for the plan's limit (not counting injected faults)

    def __call__(self, request: Request) -> Response:
        route = self.routes.get((request.method, request.path))
        if route is None:
            return self.error_response(VenueError(404, "Not found", "NOT_FOUND"))
        fault = self.http_fault()
        if fault is not None:
            return fault
        try:
            self.check_key(request)
            rate_headers = self.rate_check(request.headers.get("x-api-key") or "")
            try:
                response = self.respond(route, request)
            except VenueError as error:
                response = self.error_response(error)
            response.headers.update(rate_headers)
            return response
        except VenueError as error:
            response = self.error_response(error)
            response.headers.update(error.headers)
            return response

    # --- the plan's rate limit ------------------------------------------------------------------------
    def rate_check(self, key: str) -> dict[str, str]:
        """Count one request of ``key``; its rate-limit headers, or a 429 with Retry-After once over the limit."""
        with self._rate_lock:
            self.requests += 1
            if self.rate_limit is None:
                return {}
            now = time.time()
            seen = self._seen[key]
            while seen and seen[0] <= now - self.rate_window:
                seen.popleft()
            over = len(seen) >= self.rate_limit
            if not over:
                seen.append(now)
            else:
                self.rate_limited += 1
            reset = (seen[0] + self.rate_window) if seen else now
            headers = {"X-RateLimit-Limit": str(self.rate_limit),
                       "X-RateLimit-Remaining": str(max(0, self.rate_limit - len(seen))),
                       "X-RateLimit-Reset": str(int(reset) + 1)}
        if over:
            raise VenueError(429, "Rate limit exceeded", "RATE_LIMITED",
                             headers={**headers, "Retry-After": str(max(1, int(reset - now) + 1))})
        return headers

    def reset_rate_limit(self) -> None:
        with self._rate_lock:
            self._seen.clear()
            self.requests = self.rate_limited = 0

    def respond(self, route, request: Request) -> Response:
        return Response.json(self.malformed(route(request)))

    def malformed(self, body):
        """The `malformed` fault: the documented answer with one field broken, as a vendor's regression would send it.
        `field` names it (in the first row of a list, or in the entry `key` of an answer keyed by mint); `value`
        replaces it (absent: the field is dropped)."""
        fault = self.faults.take(self.service, "malformed")
        if fault is None:
            return body
        target = body[0] if isinstance(body, list) and body else body
        name = str(fault.params.get("field", ""))
        if isinstance(target, dict):
            if "key" in fault.params:  # an answer keyed by mint (Price v3): that mint's entry
                target = target.get(str(fault.params["key"]), {})
            if "value" in fault.params:
                target[name] = fault.params["value"]
            else:
                target.pop(name, None)
        return body

    # --- faults -------------------------------------------------------------------------------------
    def http_fault(self) -> Response | None:
        if (f := self.faults.take(self.service, "timeout")) is not None:
            return Response.hang(float(f.params.get("seconds", 15)))
        if (f := self.faults.take(self.service, "outage")) is not None:
            return self.error_response(VenueError(int(f.params.get("status", 503)), "Service unavailable", "SERVICE_UNAVAILABLE"))
        if (f := self.faults.take(self.service, "http_429")) is not None:
            response = self.error_response(VenueError(429, "Too many requests", "RATE_LIMITED"))
            response.headers["Retry-After"] = str(f.params.get("retry_after", 1))
            return response
        if (f := self.faults.take(self.service, "slow")) is not None:
            time.sleep(float(f.params.get("seconds", 1.0)))
        return None

    def error_response(self, error: VenueError) -> Response:
        """Jupiter Swap V2's error shape ({error: string}, openapi-spec/swap/v2/swap.yaml); bags.fm overrides it."""
        return Response.json({"error": error.message}, status=error.status)

    def check_key(self, request: Request) -> None:
        if request.headers.get("x-api-key") != self.api_key:
            raise VenueError(401, "Invalid or missing API key", "UNAUTHORIZED")

    # --- quote and swap -----------------------------------------------------------------------------
    @staticmethod
    def int_param(value, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        try:
            number = int(str(value))
        except (TypeError, ValueError):
            raise VenueError(400, f"{name} must be an integer", "INVALID_REQUEST") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise VenueError(400, f"{name} is out of range", "INVALID_REQUEST")
        return number

    def quote(self, *, input_mint: str, output_mint: str, amount: int) -> Quote:
        if self.faults.take(self.service, "no_route"):
            raise VenueError(400, self.no_route_message, "NO_ROUTE")
        try:
            return self.pools.quote(input_mint=input_mint, output_mint=output_mint, amount=amount)
        except NoRoute:
            raise VenueError(400, self.no_route_message, "NO_ROUTE") from None

    def parse_swap(self, body) -> SwapRequest:
        if not isinstance(body, dict) or not isinstance(body.get("quoteResponse"), dict):
            raise VenueError(400, "quoteResponse is required", "INVALID_REQUEST")
        q = body["quoteResponse"]
        try:
            owner = Pubkey.from_string(str(body.get("userPublicKey")))
        except Exception:
            raise VenueError(400, "userPublicKey is not a valid public key", "INVALID_REQUEST") from None
        amount = self.int_param(q.get("inAmount"), "inAmount", minimum=1)
        min_out = self.int_param(q.get("otherAmountThreshold", q.get("minOutAmount")), "otherAmountThreshold")
        quote = self.quote(input_mint=str(q.get("inputMint")), output_mint=str(q.get("outputMint")), amount=amount)
        return SwapRequest(quote=quote, min_out=min_out, owner=owner, request_id=str(q.get("requestId") or uuid.uuid4()))

    def swap_from_request(self, request: Request) -> tuple[bytes, int, int]:
        """Parse a swap request and build its transaction: (serialized transaction, lastValidBlockHeight, priority fee)."""
        try:
            body = request.json()
        except ValueError:
            raise VenueError(400, "the body must be JSON", "INVALID_REQUEST") from None
        swap = self.parse_swap(body)
        fee = AUTO_PRIORITY_FEE  # bags.fm's swap request has no fee field: it chooses the priority fee itself
        fail = self.faults.take(self.service, "fail_simulation")
        tx, last_valid = self.pools.build_swap(
            venue=self.service, quote=swap.quote, min_out=swap.min_out, owner=swap.owner, request_id=swap.request_id,
            priority_fee_lamports=fee, fail_reason="fault injection: fails simulation" if fail else "",
        )
        return bytes(tx), last_valid, fee

    @staticmethod
    def mint_decimals(pools: Pools, mint: str) -> int:
        return 9 if mint == SOL_MINT else pools.market.token(mint).decimals

    @staticmethod
    def impact_pct(quote: Quote) -> str:
        """priceImpactPct as the venues send it: a fraction in a string ("0.0012" = 0.12%)."""
        return format(quote.price_impact.normalize(), "f")
