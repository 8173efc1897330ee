"""Token resolution, balances and the quote preview a trader sees before buying."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from trading.chain.rpc import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from trading.chain.token_accounts import SPL_ACCOUNT_RENT, associated_token_address, new_account_rent
from trading.errors import InvalidInput, NoPrice, TradingError, VenueError
from trading.models import Mode, PaperLedger, Position, Token, Trader, Wallet
from trading.models.choices import POSITION_LIVE
from trading.prices import PricePoint, price_fresh
from trading.safety import TokenSafety, mint_facts_cached, token_safety
from trading.services.accounts import trading_settings_get
from trading.services.amounts import amount_validate, mint_validate
from trading.services.book import paper_balance_from, trader_book
from trading.services.exits import exit_spec_resolve
from trading.services.risk import risk_check_entry
from trading.services.safety import token_safety_verdict
from trading.tpsl.plans import spec_summary
from trading.venues.paper import paper_quote

# Kept back from an on-chain wallet for network fees and token account rent.
ONCHAIN_FEE_RESERVE_LAMPORTS = 10_000_000
SIGNATURE_FEE_LAMPORTS = 5_000  # the cluster's fee per signature; a swap has one (the wallet's)


def token_resolve(*, mint: str) -> tuple[Token, PricePoint]:
    """The Token (unsaved if new) and a fresh price. Unknown mints and mints without a price are refused."""
    point = price_fresh(mint=mint)
    return token_from(mint=mint, token=Token.objects.filter(mint=mint).first(), point=point), point


def token_from(*, mint: str, token: Token | None, point: PricePoint | None) -> Token:
    """`token` (the row of `mint`, if known), or an unsaved Token priced by the feed (its symbol from the safety card's
    cached metadata, if any); refused without a price."""
    if token is None:
        if point is None or point.decimals is None:
            raise InvalidInput("No market knows that token; check the address.", "unknown_mint")
        facts = mint_facts_cached(mint=mint)  # the symbol from the metadata, when the card was just shown
        token = Token(mint=mint, decimals=point.decimals, symbol=(facts.symbol if facts else "")[:32])
    if point is None:
        raise NoPrice(f"There is no price for {token} right now, so it cannot be traded; try again shortly.", "no_price")
    return token


def paper_balance(*, trader: Trader) -> int:
    """start + realised PnL - cost of open positions (all in paper mode), in lamports."""
    ledger, book = trader_book(trader=trader)
    return paper_balance_from(ledger=ledger, book=book)


def onchain_balance(*, wallet: Wallet) -> int:
    from trading.chain import RpcError, rpc_client

    try:
        return rpc_client().balance(wallet.public_key)
    except RpcError:
        raise VenueError("Your wallet balance could not be read right now; try again shortly.", "balance_unavailable") from None


def balance_available(*, mode: str, wallet: Wallet | None, ledger: PaperLedger, book: dict) -> int:
    """Lamports a new buy may spend: paper ledger balance, or wallet balance minus buys not yet on chain."""
    if mode == Mode.PAPER:
        return paper_balance_from(ledger=ledger, book=book)
    pending = book["opening_cost"][mode]
    return max(0, onchain_balance(wallet=wallet) - pending - ONCHAIN_FEE_RESERVE_LAMPORTS)


@dataclass(frozen=True)
class QuotePreview:
    mint: str
    symbol: str
    mode: str
    amount_lamports: int
    price: Decimal  # feed price, SOL per whole token
    expected_tokens: int  # base units
    min_tokens: int  # base units after the slippage limit
    decimals: int
    fee_lamports: int  # the venue's fee, inside the quoted amount (paper: its modelled fee)
    price_impact: Decimal  # a fraction (0.0012 = 0.12%) in every mode; screens print it as a percent
    slippage_bps: int
    exit_plan: str
    refused: str | None  # the sentence position_open would refuse with now, if any
    source: str = "paper"  # who answered: "paper" (the feed and the paper model), "bags" or "jupiter" (the venue's
    # own quote, in sandbox and live mode), or "estimate" (every venue failed: the feed and the paper model)
    safety: TokenSafety | None = None  # the token's safety card
    to_accept: tuple[str, ...] = ()  # critical findings the trader must accept explicitly before this buy
    network_fee_lamports: int = 0  # paid on top of the amount: the signature fee (on chain; paper has none)
    priority_fee_max_lamports: int = 0  # and a priority fee of at most this (the desk's cap for an entry)
    rent_lamports: int = 0  # paid on top into the token account this buy creates (0: the wallet has one); returned when
    # the sell that empties the account closes it

    @property
    def total_max_lamports(self) -> int:
        """The most this buy takes from the wallet: amount, network fees at their cap, and rent."""
        return self.amount_lamports + self.network_fee_lamports + self.priority_fee_max_lamports + self.rent_lamports


def _venue_quote(*, mint: str, amount: int, slippage_bps: int):
    """The venues' own quote for a buy (bags.fm, else Jupiter), or None when none answers."""
    from trading.chain.rpc import SOL_MINT
    from trading.execution.clients import venue_auth_alert, venues_in_order
    from trading.venues.router import route_quote

    try:
        return route_quote(
            venues=venues_in_order(), input_mint=SOL_MINT, output_mint=mint, amount=amount, slippage_bps=slippage_bps,
            on_auth_failure=venue_auth_alert,
        )
    except VenueError:
        return None


def _paper_rent(*, trader: Trader, mint: str) -> int:
    """Rent a paper buy of ``mint`` pays: a new paper token account's, unless a live paper position holds the token."""
    live = Position.objects.filter(trader=trader, token__mint=mint, mode=Mode.PAPER, status__in=POSITION_LIVE).exists()
    return 0 if live else SPL_ACCOUNT_RENT


def _onchain_rent(*, wallet: Wallet | None, mint: str) -> int:
    """Rent an on-chain buy of ``mint`` pays: 0 when the wallet already has its token account, else the rent of the
    account the buy creates (its size follows the mint's Token-2022 extensions). Unreadable: an SPL account's rent."""
    from trading.chain import RpcError, rpc_client

    if wallet is None:
        return SPL_ACCOUNT_RENT
    addresses = [associated_token_address(owner=wallet.public_key, mint=mint, program=program)
                 for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)]
    try:
        spl, t22, mint_account = rpc_client().accounts([*addresses, mint])
    except (RpcError, ValueError, KeyError, TypeError):
        return SPL_ACCOUNT_RENT
    if spl is not None or t22 is not None:
        return 0
    program, data = mint_account if mint_account is not None else (TOKEN_PROGRAM_ID, None)
    return new_account_rent(program=program, mint_data=data)


def quote_preview(*, trader: Trader, mint: str, amount_lamports: int, accepted: tuple[str, ...] = ()) -> QuotePreview:
    """What a buy would get now; writes nothing. Paper mode: the price feed and the paper fee/slippage model. Sandbox
    and live: the venue's own quote (bags.fm, else Jupiter), or the feed estimate when no venue answers. The token's
    safety card comes with it: a critical finding the trader's setting refuses is a refusal, the others not in
    `accepted` are listed in `to_accept`."""
    mint = mint_validate(mint)
    amount = amount_validate(amount_lamports)
    prefs = trading_settings_get(trader=trader)
    safety = token_safety(mint=mint)  # first: it looks the price up alongside the rest, token_resolve then reads it
    token, point = token_resolve(mint=mint)
    quote = paper_quote(side="buy", amount_in=amount, price=point.price, decimals=token.decimals)
    expected, minimum = quote.amount_out, quote.min_out(prefs.buy_slippage_bps)
    fee, impact, source = quote.fee_lamports, Decimal(quote.slippage_bps) / 10_000, "paper"
    if prefs.mode != Mode.PAPER:
        venue = _venue_quote(mint=mint, amount=amount, slippage_bps=prefs.buy_slippage_bps)
        if venue is None:
            source = "estimate"
        else:
            expected, minimum, impact, source = venue.out_amount, venue.min_out_amount, venue.price_impact, venue.venue
            fee = 0  # the venue's fees are inside its quoted amount; network fees are paid on top when it lands
    refused = None
    ledger, book = trader_book(trader=trader)
    if prefs.mode == Mode.PAPER:
        network, priority, rent = 0, 0, _paper_rent(trader=trader, mint=mint)
    else:
        network = SIGNATURE_FEE_LAMPORTS
        priority = prefs.priority_fee_max_lamports or settings.EXECUTION_PRIORITY_FEE_MAX_LAMPORTS
        rent = _onchain_rent(wallet=book.get("wallet"), mint=mint)
    try:
        risk_check_entry(trader=trader, amount_lamports=amount, book=book)
        if prefs.mode == Mode.PAPER and amount + rent > paper_balance_from(ledger=ledger, book=book):
            refused = "You do not have enough paper SOL for this buy."
    except TradingError as exc:
        refused = exc.message
    verdict = token_safety_verdict(trader=trader, safety=safety, accepted=accepted)
    to_accept = verdict.to_accept if verdict is not None else ()
    if verdict is not None and not to_accept:
        refused = refused or verdict.message
    spec = exit_spec_resolve(spec=None, default=prefs.default_exit_plan or None)
    return QuotePreview(
        mint=mint,
        symbol=token.symbol,
        mode=prefs.mode,
        amount_lamports=amount,
        price=point.price,
        expected_tokens=expected,
        min_tokens=minimum,
        decimals=token.decimals,
        fee_lamports=fee,
        price_impact=impact,
        slippage_bps=prefs.buy_slippage_bps,
        exit_plan=spec_summary(spec),
        refused=refused,
        source=source,
        safety=safety,
        to_accept=to_accept,
        network_fee_lamports=network,
        priority_fee_max_lamports=priority,
        rent_lamports=rent,
    )
