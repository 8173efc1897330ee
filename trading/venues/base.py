"""The venue interface: quote a swap, build its transaction. Venue errors are transient (try another venue, or later)
or permanent (stop and tell someone). Amounts are integers in the input/output token's own base units."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from decimal import Decimal

from trading.chain.observe import provider_call
from trading.chain.retry import TransientError
from trading.errors import VenueError as TradingVenueError
from trading.ratelimit import BudgetRefused, Priority, RateLimited, current_priority, limit_observe, provider_admit


class VenueError(TradingVenueError):
    """A venue refused or failed a request. ``message`` is a plain sentence; ``code`` is stable."""

    code = "venue_error"
    transient = False

    def __init__(self, message: str, *, venue: str, status: int | None = None, code: str | None = None):
        super().__init__(message, code, transient=type(self).transient)
        self.venue = venue
        self.status = status


class VenueTransientError(VenueError, TransientError):
    """Timeout, connection failure, HTTP 429 or 5xx: another venue, or the same one later, may succeed."""

    code = "venue_unavailable"
    transient = True


class VenueRateLimited(VenueTransientError):
    code = "venue_rate_limited"


class VenueBudgetSpent(VenueTransientError):
    """The provider's monthly budget is spent and the call is not essential (a preview, a trending list); ``message``
    is the sentence for the trader. Another venue may still answer."""

    code = "budget_exhausted"


class VenueNoRoute(VenueTransientError):
    """The venue has no route for this pair/amount (another venue may)."""

    code = "venue_no_route"


class VenuePermanentError(VenueError):
    """The request is wrong or refused for good (bad input, malformed answer)."""

    code = "venue_rejected"


class VenueAuthError(VenuePermanentError):
    """Our API key was refused: an operator must act, so the router raises an alert and does not fall through."""

    code = "venue_auth_failed"


@dataclass(frozen=True)
class Quote:
    venue: str
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    min_out_amount: int
    slippage_bps: int
    price_impact_pct: Decimal
    raw: dict = field(repr=False, compare=False)  # the venue's own quote object, handed back when building the swap


@dataclass(frozen=True)
class SwapTransaction:
    venue: str
    transaction: bytes  # a serialized VersionedTransaction, unsigned by the trader (maybe signed by others)
    last_valid_block_height: int
    prioritization_fee_lamports: int
    compute_unit_limit: int | None


@dataclass(frozen=True)
class FeePolicy:
    """How hard to push a transaction: priority level and a cap in lamports (exits push harder than entries)."""

    priority_level: str  # "medium" | "high" | "veryHigh"
    max_lamports: int


class Venue(abc.ABC):
    name: str

    @abc.abstractmethod
    def quote(self, *, input_mint: str, output_mint: str, amount: int, slippage_bps: int) -> Quote: ...

    @abc.abstractmethod
    def swap(self, *, quote: Quote, user_public_key: str, fee: FeePolicy) -> SwapTransaction: ...

    def close(self) -> None:
        """Release connections (venues holding none need not override)."""


class HttpVenue(Venue):
    """A venue spoken to over HTTPS with an `x-api-key` header; every request carries the client's timeout."""

    def __init__(self, *, base_url: str, api_key: str, timeout: float = 5.0, transport=None):
        import httpx

        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout), headers={"x-api-key": api_key, "accept": "application/json"}, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs):
        """The response of a request; timeouts, transport errors, 401/403, 429 and 5xx already raised as VenueErrors.
        The request first takes a slot of the venue's shared rate limit at the priority of the block it runs in
        (`trading.ratelimit.call_priority`; an entry when none is set); its answer's rate-limit headers are read."""
        try:
            provider_admit(account=self.name, priority=current_priority(default=Priority.ENTRY))
        except BudgetRefused as exc:
            raise VenueBudgetSpent(exc.message, venue=self.name) from None
        except RateLimited as exc:
            raise VenueRateLimited(exc.message, venue=self.name) from None
        with provider_call(self.name, path):
            response = venue_request(self._http, method, f"{self.base_url}{path}", venue=self.name, **kwargs)
        limit_observe(account=self.name, status=response.status_code, headers=response.headers)
        if response.status_code in (401, 403, 429) or response.status_code >= 500:
            raise classify_http_error(venue=self.name, status=response.status_code, detail=response.text[:200])
        return response

    def _quote(self, raw: dict, *, input_mint: str, output_mint: str, slippage_bps: int, min_out_key: str) -> Quote:
        venue = self.name
        out_amount = parse_int(raw.get("outAmount"), venue=venue, field_name="outAmount")
        if out_amount == 0:
            raise VenueNoRoute(f"{venue} has no route for this trade", venue=venue)
        return Quote(
            venue=venue,
            input_mint=input_mint,
            output_mint=output_mint,
            in_amount=parse_int(raw.get("inAmount"), venue=venue, field_name="inAmount"),
            out_amount=out_amount,
            min_out_amount=parse_int(raw.get(min_out_key), venue=venue, field_name=min_out_key),
            slippage_bps=parse_int(raw.get("slippageBps", slippage_bps), venue=venue, field_name="slippageBps"),
            price_impact_pct=parse_decimal(raw.get("priceImpactPct")),
            raw=raw,
        )

    def _swap(self, raw: dict, *, decode) -> SwapTransaction:
        venue = self.name
        try:
            transaction = decode(raw["swapTransaction"])
        except (KeyError, ValueError, TypeError):
            raise VenuePermanentError(f"{venue} answered a malformed swap transaction", venue=venue) from None
        return SwapTransaction(
            venue=venue,
            transaction=transaction,
            last_valid_block_height=parse_int(raw.get("lastValidBlockHeight"), venue=venue, field_name="lastValidBlockHeight"),
            prioritization_fee_lamports=parse_int(
                raw.get("prioritizationFeeLamports", 0), venue=venue, field_name="prioritizationFeeLamports"
            ),
            compute_unit_limit=raw.get("computeUnitLimit"),
        )


def parse_int(value, *, venue: str, field_name: str) -> int:
    """A base-unit amount from a venue answer (strings on the wire); a bad one is a permanent error."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise VenuePermanentError(f"{venue} answered a malformed {field_name}", venue=venue) from None
    if number < 0:
        raise VenuePermanentError(f"{venue} answered a negative {field_name}", venue=venue)
    return number


def parse_decimal(value, *, default: str = "0") -> Decimal:
    try:
        return Decimal(str(value if value is not None else default))
    except ArithmeticError:
        return Decimal(default)


_NO_ROUTE_MARKERS = ("no route", "route not found", "could_not_find_any_route", "no_routes_found", "could not find any route")


def classify_http_error(*, venue: str, status: int, detail: str) -> VenueError:
    """The error for an HTTP answer that is not a success: auth (permanent, alert), 429/5xx/no route (transient), else permanent."""
    text = (detail or "").strip()[:200]
    lowered = text.lower()
    if status in (401, 403):
        return VenueAuthError(f"{venue} refused our API key (HTTP {status})", venue=venue, status=status)
    if status == 429:
        return VenueRateLimited(f"{venue} is rate limiting us (HTTP 429)", venue=venue, status=status)
    if status >= 500:
        return VenueTransientError(f"{venue} is failing (HTTP {status})", venue=venue, status=status)
    if any(marker in lowered for marker in _NO_ROUTE_MARKERS):
        return VenueNoRoute(f"{venue} has no route for this trade", venue=venue, status=status)
    return VenuePermanentError(f"{venue} refused the request (HTTP {status}): {text}", venue=venue, status=status)


def venue_request(client, method: str, url: str, *, venue: str, **kwargs):
    """One HTTP request with the client's timeout; transport failures become VenueTransientError."""
    import httpx

    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise VenueTransientError(f"{venue} timed out", venue=venue) from exc
    except httpx.TransportError as exc:
        raise VenueTransientError(f"{venue} is unreachable ({type(exc).__name__})", venue=venue) from exc


def response_json(response, *, venue: str):
    try:
        return response.json()
    except ValueError:
        if response.status_code >= 500 or response.status_code == 429:
            raise classify_http_error(venue=venue, status=response.status_code, detail="") from None
        raise VenueTransientError(f"{venue} answered something that is not JSON", venue=venue) from None
