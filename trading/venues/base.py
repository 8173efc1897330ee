"""The venue interface: quote a swap, build its transaction. Venue errors are transient (try another venue, or later)
or permanent (stop and tell someone). Amounts are integers in the input/output token's own base units."""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import httpx

from trading.chain.observe import provider_call
from trading.chain.retry import TransientError
from trading.errors import VenueError as TradingVenueError
from trading.ratelimit import BudgetRefused, Priority, RateLimited, current_priority, limit_observe, provider_admit

log = logging.getLogger(__name__)


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


class VenueMalformedAnswer(VenuePermanentError):
    """The venue answered a shape it never documented (a missing field, a number where a string is documented, an
    unknown error shape): a permanent error for that call, logged, never a crash and never a zero."""

    code = "venue_malformed_answer"

    def __init__(self, message: str, *, venue: str, status: int | None = None, code: str | None = None):
        super().__init__(message, venue=venue, status=status, code=code)
        log.error("venue answered an undocumented shape", extra={"venue": venue, "problem": message})


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
    price_impact: Decimal  # a fraction (0.0012 = 0.12%), as both venues send it; screens print it as a percent
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
    compute_unit_price: int = 0  # micro-lamports per compute unit the desk chose (0: the venue's own choice)

    def unit_price_within(self, compute_unit_limit: int, venue_price: int) -> int:
        """The price to put in a transaction of ``compute_unit_limit`` units: the desk's (or else the venue's),
        capped so that the whole priority fee (price x limit) stays within ``max_lamports``."""
        price = self.compute_unit_price or venue_price
        return min(price, self.max_lamports * 1_000_000 // max(1, compute_unit_limit))


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

    def _quote(self, raw: dict, *, input_mint: str, output_mint: str, min_out_key: str, impact: Decimal) -> Quote:
        venue = self.name
        out_amount = parse_amount(raw, "outAmount", venue=venue)
        if out_amount == 0:
            raise VenueNoRoute(f"{venue} has no route for this trade", venue=venue)
        return Quote(
            venue=venue,
            input_mint=input_mint,
            output_mint=output_mint,
            in_amount=parse_amount(raw, "inAmount", venue=venue),
            out_amount=out_amount,
            min_out_amount=parse_amount(raw, min_out_key, venue=venue),
            slippage_bps=parse_count(raw, "slippageBps", venue=venue),
            price_impact=impact,
            raw=raw,
        )

    def _swap(self, raw: dict, *, decode) -> SwapTransaction:
        """A SwapTransaction from bags.fm's documented swap answer (TradeSwapTransactionResponse)."""
        venue = self.name
        try:
            transaction = decode(raw["swapTransaction"])
        except (KeyError, ValueError, TypeError):
            raise VenueMalformedAnswer(f"{venue} answered a malformed swap transaction", venue=venue) from None
        return SwapTransaction(
            venue=venue,
            transaction=transaction,
            last_valid_block_height=parse_count(raw, "lastValidBlockHeight", venue=venue),
            prioritization_fee_lamports=parse_count(raw, "prioritizationFeeLamports", venue=venue),
            compute_unit_limit=parse_count(raw, "computeUnitLimit", venue=venue),
        )


def parse_amount(raw: dict, name: str, *, venue: str) -> int:
    """A base-unit amount documented as a string of digits ("1000"); anything else is a malformed answer."""
    value = raw.get(name) if isinstance(raw, dict) else None
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise VenueMalformedAnswer(f"{venue} answered a malformed {name}: {value!r}"[:200], venue=venue)
    return int(value)


def parse_count(raw: dict, name: str, *, venue: str) -> int:
    """A non-negative integer documented as a JSON number (bps, block heights, lamports of fee)."""
    value = raw.get(name) if isinstance(raw, dict) else None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise VenueMalformedAnswer(f"{venue} answered a malformed {name}: {value!r}"[:200], venue=venue)
    return value


def parse_fraction(value, *, venue: str, name: str) -> Decimal:
    """A price impact as a decimal fraction in a string ("0.0012" = 0.12%), within -1..1."""
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not -1 <= number <= 1:
        raise VenueMalformedAnswer(f"{venue} answered a malformed {name}: {value!r}"[:200], venue=venue)
    return number


def classify_http_error(*, venue: str, status: int, detail: str, no_route: bool = False) -> VenueError:
    """The error for an HTTP answer that is not a success: auth (permanent, alert), 429/5xx (transient), a refusal the
    venue's own client classified as "no route" (``no_route``: transient, another venue may), else permanent. Each
    venue decides ``no_route`` from its own documented shapes, never from another venue's wording."""
    text = (detail or "").strip()[:200]
    if status in (401, 403):
        return VenueAuthError(f"{venue} refused our API key (HTTP {status})", venue=venue, status=status)
    if status == 429:
        return VenueRateLimited(f"{venue} is rate limiting us (HTTP 429)", venue=venue, status=status)
    if status >= 500:
        return VenueTransientError(f"{venue} is failing (HTTP {status})", venue=venue, status=status)
    if no_route:
        return VenueNoRoute(f"{venue} has no route for this trade ({text or f'HTTP {status}'})", venue=venue, status=status)
    return VenuePermanentError(f"{venue} refused the request (HTTP {status}): {text}", venue=venue, status=status)


def venue_request(client, method: str, url: str, *, venue: str, **kwargs):
    """One HTTP request with the client's timeout; transport failures become VenueTransientError."""
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
