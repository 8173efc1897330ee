"""The rails an order runs on (its venues, its chain, who signs), chosen by the order's mode and nothing else.

Sandbox and live: bags.fm then Jupiter and the configured cluster, built from settings (the same code for both: only
URLs differ), shared per process (see trading.chain.shared_client). Paper: the paper venue and the paper chain only,
so a paper order cannot reach a live venue or a cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum

from jarvis.events import event_emit
from monitoring import metrics
from trading.chain import SolanaRpc, rpc_client, shared_client
from trading.chain.paper import paper_chain, paper_sign
from trading.chain.signing import transaction_sign
from trading.models import Mode, Order, OrderSide, Position
from trading.models.choices import POSITION_LIVE
from trading.prices import PricePoint
from trading.venues.bags import BagsVenue
from trading.venues.base import Venue, VenueAuthError
from trading.venues.jupiter import JupiterVenue
from trading.venues.paper import PaperVenue
from trading.venues.transfer import PaperTransferVenue, TransferVenue

log = logging.getLogger(__name__)
PAPER_OWNER = "paper"  # the account a paper transaction moves


@dataclass(frozen=True)
class Rails:
    venues: list[Venue]
    chain: object  # a SolanaRpc, or the PaperChain that answers the same calls
    owner: str | None  # the account whose balances the swap moves (None: an on-chain position without a wallet)
    sign: Callable[[bytes, int], tuple[bytes, str]]  # (unsigned bytes, attempt number) -> (signed bytes, signature)
    instant: bool  # the chain lands a transaction the moment it is sent (paper): nothing is ever in flight
    bundler: BagsVenue | None = None  # sends MEV-protected bundles (bags.fm /solana/send-bundle); None on paper


def rails_for(order: Order, *, price: PricePoint | None = None) -> Rails:
    """The rails of `order` (read with its position's token; the wallet is read here, for on-chain modes only).
    A withdrawal's one "venue" builds the transfer itself (trading.venues.transfer); its wallet is the order's own.
    `price`: the price a paper swap quotes at (see `paper_price_mint`)."""
    withdrawal = order.side == OrderSide.WITHDRAW
    if order.mode == Mode.PAPER:
        if withdrawal:
            venue = PaperTransferVenue()
        else:
            venue = PaperVenue(decimals=order.position.token.decimals, account=PaperAccount(order), price=price)
        return Rails(
            venues=[venue],
            chain=paper_chain,
            owner=PAPER_OWNER,
            sign=lambda raw, attempt: paper_sign(raw=raw, signer=f"{order.client_id}:{attempt}"),
            instant=True,
        )
    wallet = order.wallet if withdrawal else order.position.wallet
    chain = rpc_for_execution()
    venues = [TransferVenue(rpc=chain)] if withdrawal else venues_in_order()
    return Rails(
        venues=venues,
        chain=chain,
        owner=None if wallet is None else wallet.public_key,
        sign=lambda raw, attempt: transaction_sign(raw=raw, keypair=wallet.keypair()),
        instant=False,
        bundler=None if withdrawal else venues[0],
    )


def paper_price_mint(order: Order) -> str | None:
    """The mint whose price from the desk's feed the order's venue quotes at (a paper swap), else None."""
    if order.mode == Mode.PAPER and order.side != OrderSide.WITHDRAW:
        return order.position.token.mint
    return None


class PaperAccount:
    """The trader's paper token account of the order's mint: what their live paper positions of that token hold,
    read when the swap asks (a buy only whether it is empty)."""

    def __init__(self, order: Order):
        position = order.position
        self.live = Position.objects.filter(
            trader_id=position.trader_id, token_id=position.token_id, mode=Mode.PAPER, status__in=POSITION_LIVE,
        )

    def is_empty(self) -> bool:
        return not self.live.filter(size__gt=0).exists()

    def holding(self) -> tuple[int, int]:
        found = self.live.aggregate(held=Sum("size"), rent=Sum("rent_lamports"))
        return found["held"] or 0, found["rent"] or 0


def rpc_for_execution() -> SolanaRpc:
    return rpc_client()


def venues_in_order() -> list[Venue]:
    """bags.fm first, Jupiter second."""
    timeout = settings.VENUE_TIMEOUT_SECONDS
    bags_url, bags_key = settings.BAGS_API_URL, settings.BAGS_API_KEY or ""
    jup_url, jup_key = settings.JUPITER_API_URL, settings.JUPITER_API_KEY or ""
    bags = shared_client(
        ("bags", bags_url, bags_key, timeout), lambda: BagsVenue(base_url=bags_url, api_key=bags_key, timeout=timeout)
    )
    jupiter = shared_client(
        ("jupiter", jup_url, jup_key, timeout), lambda: JupiterVenue(base_url=jup_url, api_key=jup_key, timeout=timeout)
    )
    return [bags, jupiter]


def execution_alert(*, key: str, summary: str, severity: str) -> None:
    """Tell operators: an "alert.raise" event (monitoring raises the alert) and always an ERROR/WARNING log line.
    A subscriber's failure never reaches execution (jarvis.events); the log line stands."""
    log.log(logging.ERROR if severity == "critical" else logging.WARNING, "ALERT %s", summary, extra={"alert": key})
    event_emit("alert.raise", {"key": key, "summary": summary, "severity": severity})


def venue_auth_alert(error: VenueAuthError) -> None:
    """An API key was refused: operators must act (the router does not fall through to the next venue)."""
    metrics.provider_observe(provider=error.venue, operation="auth", outcome="refused")
    execution_alert(key=f"venue_auth:{error.venue}", summary=error.message, severity="critical")
