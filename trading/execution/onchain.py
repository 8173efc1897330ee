"""The landing loop of every order (DESIGN.md invariants 1 and 2, REFERENCE.md "getting a transaction to land, once").

One attempt: quote (the venues in order) -> build -> sign (paper: seal) -> simulate -> PERSIST signature, signed bytes
and the last valid block height -> send. Then re-send the same bytes every EXECUTION_RESEND_SECONDS until the signature
is confirmed, or until the block height has passed the last valid one with the status still null. Only then is the
attempt expired and a new one made with a fresh quote. Nothing is ever re-signed while an earlier signature of the
order could land. The fill is read from the landed transaction's balance changes and applied in one transaction.

Every mode runs these same steps; the order's mode picks the rails (trading.execution.clients.rails_for): the paper
venue and the paper chain for paper, bags.fm and Jupiter and the configured cluster for sandbox and live.
"""

from __future__ import annotations

from dataclasses import replace

import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from monitoring import metrics
from trading.chain.bundles import bundle_id_of, tip_account_for, tip_transaction
from trading.chain.compute_budget import compute_unit_price_of
from trading.chain.observe import provider_calls_batched, provider_calls_flush
from trading.chain.rpc import SOL_MINT, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, RpcError, SignatureStatus
from trading.chain.signing import SigningError
from trading.chain.token_accounts import account_amount, associated_token_address, close_appended, withheld_fee
from trading.execution.clients import Rails, execution_alert, paper_price_mint, rails_for, venue_auth_alert
from trading.execution.fills import order_locked, position_apply_fill, withdrawal_apply_fill
from trading.execution.locks import OrderLease, identical_buy_offset, signature_claim
from trading.execution.policy import (
    Fill,
    bundle_tip_for,
    compute_unit_price_for,
    fee_policy_for,
    fill_from_deltas,
    slippage_for,
)
from trading.execution.state import order_fail, order_transition
from trading.models import Order, OrderSide, OrderStatus
from trading.models.choices import ORDER_TERMINAL, Mode
from trading.prices import price_fresh, price_get
from trading.ratelimit import Priority, call_priority
from trading.venues.base import VenueError
from trading.venues.router import route_swap

log = logging.getLogger(__name__)

IN_CHAIN = (OrderStatus.SIGNED, OrderStatus.SUBMITTED)
NEEDS_ATTEMPT = (OrderStatus.PENDING, OrderStatus.EXPIRED, OrderStatus.QUOTING)
IN_FLIGHT = "in_flight"  # still unresolved when the loop's time budget ran out: reconciliation takes over
BUSY = "busy"  # another lander holds the order
LOST = "lost"  # the order moved under us (a compare-and-swap lost)
POLL_FIRST, POLL_MAX = 0.005, 0.4
DISTINCT_TRIES, DISTINCT_WAIT = 5, 0.4  # a sandbox/mainnet block is ~0.4 s


def _order_read(order_id: int) -> Order | None:
    """The order under its row lock (and its position's: `order_locked`); a withdrawal of SOL, which has no
    position, under its own. Call inside a transaction."""
    try:
        return order_locked(order_id)
    except Order.DoesNotExist:
        pass
    try:
        return Order.objects.select_for_update(of=("self",)).select_related("position__token").get(id=order_id)
    except Order.DoesNotExist:
        return None


def order_land(*, order_id: int) -> str:
    """Land one order of any mode; returns the status it ended in (or in_flight/busy/lost). Safe to call twice.

    The order is read under its row lock. On a chain that lands at once (paper) nothing is ever in flight, so the whole
    landing, from that read to the fill, is one transaction under that lock: the lock is the whole guard against a
    second lander, and the fill needs no read of its own. A paper swap quotes at the feed's cached price; a stale one
    is fetched with no lock held (the transaction ends, the order is read again). Elsewhere the lock ends with the
    read (the landing waits on venues and the chain), and a lease keeps other landers away."""
    price, fetched = None, False
    while True:
        with transaction.atomic():
            order = _order_read(order_id)
            if order is None:
                log.warning("order %s does not exist", order_id)
                return LOST
            if order.status in ORDER_TERMINAL:
                return order.status
            if order.mode not in (Mode.PAPER, settings.TRADING_MODE):
                order_fail(
                    order_id=order_id,
                    error=f"This {order.mode} order was not sent because the desk now runs in {settings.TRADING_MODE} mode.",
                )
                return OrderStatus.FAILED
            mint = paper_price_mint(order)
            if mint is not None and not fetched:
                price = price_get(mint=mint)
            if mint is None or fetched or (price is not None and price.is_fresh()):
                rails = rails_for(order, price=price)
                if not rails.instant:
                    break
                with provider_calls_batched(), call_priority(_priority(order)):
                    return Lander(order_id=order_id, lease=None, rails=rails, locked=True).run(order)
        with call_priority(_priority(order)):
            price, fetched = price_fresh(mint=mint), True
    lease = OrderLease(order_id)
    if not lease.acquire():
        log.info("order %s is being landed elsewhere", order_id)
        return BUSY
    try:
        # A copy read just before the lease is fine: every move below is a compare-and-swap on the row.
        # The landing's RPC and venue calls are counted in one go, and take their place in the providers' shared
        # windows as an exit's (a sell) or an entry's.
        with provider_calls_batched(), call_priority(_priority(order)):
            return Lander(order_id=order_id, lease=lease, rails=rails).run(order)
    finally:
        lease.release()


def _priority(order: Order) -> Priority:
    return Priority.EXIT if order.side == OrderSide.SELL else Priority.ENTRY


INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)


class Lander:
    def __init__(self, *, order_id: int, lease: OrderLease | None, rails: Rails | None = None, locked: bool = False):
        self.order_id = order_id
        self.lease = lease
        self.rails = rails
        self.locked = locked  # the order was read under its row lock in the transaction this landing runs in
        self.deadline = time.monotonic() + settings.EXECUTION_LAND_BUDGET_SECONDS
        self.close_added = False  # this attempt's transaction closes the token account the sell empties
        self.close_refused = False  # a transaction with the close failed simulation: sell without it from now on

    def _load(self) -> Order:
        return Order.objects.select_related("position__token").get(id=self.order_id)

    def run(self, order: Order | None = None) -> str:
        order = order or self._load()
        if self.rails is None:
            self.rails = rails_for(order)
        fresh = False
        while True:
            if order.status in ORDER_TERMINAL:
                return order.status
            if order.status in IN_CHAIN:
                outcome = self.land(order, fresh=fresh)
                if outcome != OrderStatus.EXPIRED:
                    return outcome
                order, fresh = self._load(), False
                continue
            if order.attempts >= settings.EXECUTION_MAX_ATTEMPTS:
                order_fail(
                    order_id=self.order_id,
                    error=f"The swap did not confirm in {order.attempts} attempts (each expired unconfirmed); nothing was filled.",
                )
                _count(order.venue or "none", "failed")
                return OrderStatus.FAILED
            if time.monotonic() > self.deadline:
                return order.status
            try:
                outcome = self.attempt(order)
            except INFRASTRUCTURE_ERRORS:
                # Postgres or Redis blinked (a restart, a failover): nothing is signed or persisted, the order is as it
                # was; the task retries it (or reconciliation, once stale). Failing it would tell the trader "did not
                # go through" for a trade the desk can still make.
                log.warning("order %s: attempt stopped by a database or Redis error; left for a retry", order.id)
                raise
            except Exception as exc:  # nothing is signed and persisted yet: fail with a reason rather than stay stuck
                log.exception("order %s: attempt broke before anything was sent", order.id)
                order_fail(order_id=order.id, error=f"The swap could not be prepared ({type(exc).__name__}); nothing was sent.")
                return OrderStatus.FAILED
            if isinstance(outcome, str):
                return outcome
            order, fresh = outcome, True

    # --- one attempt: quote, build, sign, simulate, persist -------------------------------------------
    def attempt(self, order: Order) -> str | Order:
        """A new attempt; returns the order as persisted (signed, not yet sent) or the status it ended in.

        Nothing is written before the signed transaction: quoting, building, signing and simulating change nothing
        (the lease keeps other landers away), and the one compare-and-swap from the status read here to "signed",
        with the signature, bytes and last valid block height, decides which attempt exists."""
        source = order.status
        token = order.position.token if order.position_id else None  # None: a withdrawal of SOL
        if self.rails.owner is None:
            order_fail(order_id=order.id, error="This position has no wallet, so it cannot trade on chain.")
            return OrderStatus.FAILED
        number = order.attempts + 1
        fee = fee_policy_for(
            side=order.side,
            max_lamports=order.priority_fee_lamports or settings.EXECUTION_PRIORITY_FEE_MAX_LAMPORTS,
            attempt=number,
            compute_unit_price=self._unit_price(order, token),
            policy=order.priority_fee_policy or "auto",
        )
        slippage = slippage_for(
            side=order.side,
            base_bps=order.slippage_bps,
            exit_bonus_bps=settings.EXECUTION_EXIT_SLIPPAGE_BONUS_BPS,
            attempt=number,
        )
        try:
            routed, signed, signature, amount = self._build_distinct(order, token, fee=fee, slippage=slippage)
        except VenueError as exc:
            order_fail(order_id=order.id, error=f"No venue could build this swap: {exc.message}.")
            _count(getattr(exc, "venue", "none"), "failed")
            return OrderStatus.FAILED
        except SigningError as exc:
            order_fail(order_id=order.id, error=f"The venue's transaction could not be signed: {exc}.")
            return OrderStatus.FAILED
        if routed is None:
            order_fail(order_id=order.id, error="Every quote gave the same transaction as another order of this wallet.")
            return OrderStatus.FAILED
        venue = routed.quote.venue
        if order.attempts == 0 and order.min_amount_out is not None and routed.quote.out_amount < order.min_amount_out:
            order_fail(order_id=order.id, error=f"The price of {token} moved past your slippage limit, so nothing was traded.")
            return OrderStatus.FAILED
        if self.lease is not None and not self.lease.renew():
            return LOST
        try:
            simulation = self.rails.chain.simulate(signed)
        except RpcError as exc:
            order_fail(order_id=order.id, error=f"The {venue} swap could not be simulated ({exc.message}); nothing was sent.")
            return OrderStatus.FAILED
        if simulation.err is not None and self.close_added and not self.close_refused:
            # Getting the rent back must never cost the exit: the same swap without the close, as the venue built it.
            log.warning("order %s: the %s swap closing its token account failed simulation (%s); selling without the "
                        "close", order.id, venue, simulation.err)
            self.close_refused = True
            return self.attempt(order)
        if simulation.err is not None:
            order_fail(order_id=order.id, error=f"The {venue} swap failed simulation ({simulation.err}); nothing was sent.")
            _count(venue, "failed")
            return OrderStatus.FAILED
        fields = {
            "amount_in": amount,  # a buy may be a lamport or two less (see _build_distinct)
            "signature": signature,
            "signed_tx": signed,
            "last_valid_block_height": routed.swap.last_valid_block_height,
            "venue": venue,
            "amount_out_expected": routed.quote.out_amount,
            "min_amount_out": routed.quote.min_out_amount,
            "compute_unit_price": compute_unit_price_of(signed),  # what the signed transaction actually bids
        }
        if order.mev_protection and self.rails.bundler is not None:
            try:
                fields.update(self._bundle(order, signed=signed, signature=signature, number=number))
            except (VenueError, SigningError, ValueError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                order_fail(order_id=order.id, error=f"The MEV-protected bundle could not be prepared ({message}); "
                                                    "nothing was sent.")
                return OrderStatus.FAILED
        if self.rails.instant:
            return self._land_at_once(order, number=number, fields=fields)
        if not order_transition(
            order_id=order.id,
            from_statuses=[source],
            to_status=OrderStatus.SIGNED,
            attempts=F("attempts") + 1,
            **fields,
        ):
            return LOST
        log.info("order %s attempt %s signed on %s: %s", order.id, number, venue, signature)
        for name, value in fields.items():
            setattr(order, name, value)
        order.status, order.attempts = OrderStatus.SIGNED, number
        return order

    def _bundle(self, order: Order, *, signed: bytes, signature: str, number: int) -> dict:
        """The tip transaction of a protected order and the bundle's id, to persist with the signature before the
        bundle is sent: the tip sized from bags.fm's jito-recent-fees, paid by the wallet, on the swap's blockhash."""
        tip = bundle_tip_for(
            side=order.side, landed_tips=self.rails.bundler.jito_recent_fees(),
            percentile=settings.EXECUTION_BUNDLE_TIP_PERCENTILE, minimum=settings.EXECUTION_BUNDLE_TIP_MIN_LAMPORTS,
            maximum=settings.EXECUTION_BUNDLE_TIP_MAX_LAMPORTS,
        )
        unsigned = tip_transaction(swap=signed, payer=self.rails.owner, tip_account=tip_account_for(str(order.client_id)),
                                   lamports=tip)
        tip_tx, tip_signature = self.rails.sign(unsigned, number)
        return {"tip_tx": tip_tx, "tip_lamports": tip, "bundle_id": bundle_id_of([signature, tip_signature])}

    def _unit_price(self, order: Order, token) -> int:
        """The order's compute-unit price (micro-lamports) from the trader's policy; "auto" reads the recent
        prioritization fees of the accounts the swap writes (the wallet and the mint). On paper nothing is bid."""
        if self.rails.instant:
            return 0
        policy = order.priority_fee_policy or "auto"
        recent = None
        if policy == "auto":
            try:
                recent = self.rails.chain.recent_prioritization_fees([self.rails.owner, *([token.mint] if token else [])])
            except RpcError as exc:  # the level's fixed price stands in
                log.warning("order %s: recent prioritization fees unreadable (%s)", order.id, exc.message)
        return compute_unit_price_for(
            policy=policy, side=order.side, recent_fees=recent,
            level_prices=settings.EXECUTION_PRIORITY_LEVEL_PRICES, percentiles=settings.EXECUTION_PRIORITY_AUTO_PERCENTILES,
        )

    def _land_at_once(self, order: Order, *, number: int, fields: dict) -> str:
        """Send to a chain that lands at once (paper): nothing is ever in flight there, so nothing needs persisting
        before the send; the fill records the attempt together with the confirmation, under the order's row lock."""
        chain = self.rails.chain
        chain.send_raw(fields["signed_tx"])
        meta = chain.transaction(fields["signature"])
        provider_calls_flush()
        _apply_fill(order=order, meta=meta, owner=self.rails.owner, attempt={**fields, "attempts": number},
                    locked=order if self.locked else None)
        log.info("order %s attempt %s landed on %s: %s", order.id, number, fields["venue"], fields["signature"])
        _count(fields["venue"], "confirmed")
        return OrderStatus.CONFIRMED

    def _build_distinct(self, order: Order, token, *, fee, slippage):
        """Quote, build and sign until the signature is this order's alone (see signature_claim); bounded.

        On a clash a buy spends one lamport less (a different amount is a different transaction at once); a sell,
        whose amount must stay whole, waits for a later blockhash instead. On a chain that lands at once (paper) no
        two transactions are ever in flight together, so there is no clash to look for."""
        rails = self.rails
        buying = order.side == OrderSide.BUY
        amount = order.amount_in
        number = order.attempts + 1
        if buying and order.attempts == 0 and not rails.instant:
            amount -= identical_buy_offset(wallet=rails.owner, mint=token.mint, amount=amount)
        withdrawing = order.side == OrderSide.WITHDRAW  # a transfer of ours: nothing to close after it
        closing = None if buying or withdrawing or self.close_refused else self._account_emptied(order, token)
        self.close_added = False
        for _ in range(DISTINCT_TRIES):
            # A withdrawal's transfer is built by its own venue; a clash waits for a later blockhash, as a sell's does.
            routed = self._transfer(order, token, amount, fee) if order.side == OrderSide.WITHDRAW else route_swap(
                venues=rails.venues,
                input_mint=SOL_MINT if buying else token.mint,
                output_mint=token.mint if buying else SOL_MINT,
                amount=amount,
                slippage_bps=slippage,
                user_public_key=rails.owner,
                fee=fee,
                on_auth_failure=venue_auth_alert,
                rounds=settings.EXECUTION_VENUE_ROUNDS,
            )
            raw = routed.swap.transaction
            if closing is not None:
                address, program, harvest = closing
                extended = close_appended(raw, owner=rails.owner, account=address, program=program, harvest_mint=harvest)
                self.close_added = extended is not None
                raw = extended or raw
            signed, signature = rails.sign(raw, number)
            if rails.instant:
                return routed, signed, signature, amount
            taken = Order.objects.filter(signature=signature).exclude(id=order.id).exists()
            if not taken and signature_claim(signature=signature, order_id=order.id):
                return routed, signed, signature, amount
            log.info("order %s: identical transaction to another order's; building a distinct one", order.id)
            if buying and amount > 1:
                amount -= 1
            else:
                time.sleep(DISTINCT_WAIT)
        return None, b"", "", amount

    def _account_emptied(self, order: Order, token) -> tuple[str, str, str | None] | None:
        """(address, program, mint to harvest a withheld Token-2022 transfer fee to, or None) of the wallet's token
        account this sell empties, to close in the same transaction (its rent then comes back with the proceeds); None
        for a partial sell or an account holding more than is sold. A paper chain models the account itself
        (trading.venues.paper)."""
        if self.rails.instant or order.amount_in < order.position.size:
            return None
        owner = self.rails.owner
        candidates = [(associated_token_address(owner=owner, mint=token.mint, program=program), program)
                      for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)]
        try:
            found = self.rails.chain.accounts([address for address, _ in candidates])
        except (RpcError, ValueError, KeyError, TypeError) as exc:
            log.warning("order %s: token account unreadable (%s); sold without closing it", order.id, exc)
            return None
        for (address, program), account in zip(candidates, found, strict=True):
            if account is None or account[0] != program or account_amount(account[1]) != order.amount_in:
                continue
            return address, program, token.mint if withheld_fee(account[1]) else None
        return None

    def _transfer(self, order: Order, token, amount: int, fee):
        """A withdrawal's unsigned transfer (trading.venues.transfer): SOL when `token` is None, else the token."""
        return self.rails.venues[0].build(
            owner=self.rails.owner, destination=order.destination, mint=token.mint if token else SOL_MINT,
            decimals=token.decimals if token else 9, program=token.token_program if token else "", amount=amount,
            fee=fee)

    # --- the landing loop of one signed attempt -----------------------------------------------------------
    def land(self, order: Order, *, fresh: bool = False) -> str:
        """Send and re-send the persisted bytes until the signature resolves. ``fresh``: signed in this run, so it is
        sent at once; a resumed order (restart, redelivery, reconciliation) is resolved by status before any re-send."""
        raw = bytes(order.signed_tx)
        last_send: float | None = None
        poll = POLL_FIRST
        status_value = order.status
        resolve = not fresh
        while True:
            if not self.lease.renew():
                return LOST
            if resolve:
                outcome = order_resolve(order=order, rails=self.rails)
                if outcome is not None:
                    return outcome
            resolve = True
            now = time.monotonic()
            if last_send is None or now - last_send >= settings.EXECUTION_RESEND_SECONDS:
                first = last_send is None
                last_send = self._send(order, raw)
                if first and fresh:
                    # Look at once: a fast cluster confirms within the first poll, and the fill then takes the order
                    # from signed to confirmed; "submitted" is a write on the way only for an order still in flight.
                    outcome = order_resolve(order=order, rails=self.rails)
                    if outcome is not None:
                        return outcome
                if status_value == OrderStatus.SIGNED and order_transition(
                    order_id=order.id, from_statuses=[OrderStatus.SIGNED], to_status=OrderStatus.SUBMITTED
                ):
                    status_value = OrderStatus.SUBMITTED
            if now > self.deadline:
                return IN_FLIGHT
            time.sleep(poll)
            poll = min(poll * 2, POLL_MAX)

    def _send(self, order: Order, raw: bytes) -> float:
        """Send (or re-send) the persisted bytes: the transaction alone, or the whole bundle (swap, then tip) of a
        protected order. A bundle lands whole or not at all, so the swap's signature status decides it as well."""
        try:
            if order.bundle_id and self.rails.bundler is not None:
                answered = self.rails.bundler.send_bundle([raw, bytes(order.tip_tx)])
                if answered != order.bundle_id:
                    log.warning("order %s: bags.fm named bundle %s, expected %s", order.id, answered, order.bundle_id)
            else:
                self.rails.chain.send_raw(raw)
        except (RpcError, VenueError) as exc:
            # Whatever the node says, the signature's status and the block height decide; never re-sign here.
            log.warning("order %s: send failed (%s); will re-send the same bytes", order.id, exc.message)
        return time.monotonic()


def order_resolve(
    *, order: Order, rails: Rails, known: tuple[int, SignatureStatus | None] | None = None
) -> str | None:
    """Decide a signed order by its signature status: confirmed, failed on chain, expired, or None (still in flight).

    Expiry needs a null status read AFTER a block height past the last valid one: then the transaction can no longer
    land. ``known`` is (height, status) read in that order by the caller (reconciliation reads them in batches);
    otherwise the status is read first (all the happy path needs) and, only while it is null, the height and, past
    the last valid one, the status once more. A status or height that cannot be read decides nothing.
    """
    last_valid = order.last_valid_block_height or 0
    rpc = rails.chain
    try:
        if known is not None:
            height, status = known
        else:
            height, status = None, rpc.signature_statuses([order.signature])[0]
            if status is None:
                height = rpc.block_height()
                if height > last_valid:
                    status = rpc.signature_statuses([order.signature])[0]
    except RpcError as exc:
        log.warning("order %s: status unknown (%s)", order.id, exc.message)
        return None
    if status is not None:
        if not status.landed:
            return None
        if status.err is not None:
            order_fail(order_id=order.id, error=f"The swap landed but failed on chain ({status.err}); nothing was traded.")
            _count(order.venue, "failed")
            return OrderStatus.FAILED
        return order_confirm_landed(order=order, rails=rails)
    if height is not None and height > last_valid:
        note = (
            f"attempt {order.attempts} ({order.signature[:16]}...) expired unconfirmed at block height {height} "
            f"(last valid {order.last_valid_block_height})"
        )
        order_transition(order_id=order.id, from_statuses=IN_CHAIN, to_status=OrderStatus.EXPIRED, error=note)
        log.info("order %s: %s", order.id, note)
        _count(order.venue, "expired")
        return OrderStatus.EXPIRED
    return None


def order_confirm_landed(*, order: Order, rails: Rails) -> str | None:
    """Apply the fill of a confirmed signature from the wallet's balance changes in that transaction."""
    meta = None
    for wait in (0, 0.05, 0.2, 0.5, 1.0):
        if wait:  # the first read at once (even sleep(0) gives the CPU away, milliseconds on a busy machine)
            time.sleep(wait)
        try:
            meta = rails.chain.transaction(order.signature)
        except RpcError as exc:
            log.warning("order %s: transaction not readable yet (%s)", order.id, exc.message)
        if meta is not None:
            break
    if meta is None:
        return None  # confirmed but unreadable for now: stays in flight, reconciliation retries
    provider_calls_flush()  # every call that led to this fill is counted before the fill is
    try:
        _apply_fill(order=order, meta=meta, owner=rails.owner)
    except Exception as exc:
        # The swap is on chain but the books refuse it: keep the order in flight (reconciliation retries) and call
        # an operator; never fail an order whose swap happened.
        log.exception("order %s: landed fill could not be applied", order.id)
        execution_alert(
            key=f"fill_unapplied:{order.id}",
            summary=f"Order {order.id} landed on chain ({order.signature}) but its fill could not be recorded: {exc}",
            severity="critical",
        )
        return None
    _count(order.venue, "confirmed")
    return OrderStatus.CONFIRMED


def _apply_fill(*, order: Order, meta, owner: str, attempt: dict | None = None, locked: Order | None = None) -> None:
    """Record a landed transaction: a swap's fill on its position, or a withdrawal's (what left the wallet)."""
    if order.side == OrderSide.WITHDRAW:
        token = order.position.token if order.position_id else None
        spent = -meta.sol_delta(owner)  # the amount of SOL sent (if SOL), the fee and any account rent
        sent = spent - meta.fee if token is None else -meta.token_delta(owner, token.mint)
        withdrawal_apply_fill(order_id=order.id, sent=sent, fee_lamports=spent - (sent if token is None else 0),
                              attempt=attempt)
        return
    fill = _with_tip(_fill_of(order=order, meta=meta, owner=owner), order=order)
    position_apply_fill(
        order_id=order.id, in_amount=fill.in_amount, out_amount=fill.out_amount, price=fill.price,
        fee_lamports=fill.fee_lamports, rent_lamports=fill.rent_lamports, attempt=attempt, locked=locked,
    )


def _fill_of(*, order: Order, meta, owner: str) -> Fill:
    """The fill from the owner's balance changes; if those do not describe the swap, the quoted amounts (logged)."""
    token = order.position.token
    buying = order.side == OrderSide.BUY
    exact_in = order.amount_in if buying else None
    try:
        return fill_from_deltas(
            side=order.side, sol_delta=meta.sol_delta(owner), token_delta=meta.token_delta(owner, token.mint),
            fee_lamports=meta.fee, decimals=token.decimals, exact_in_lamports=exact_in,
            rent_delta=meta.rent_delta(owner, token.mint),
        )
    except ValueError as exc:
        log.error("order %s: balance changes unreadable (%s); recording the quoted amounts", order.id, exc)
    quoted_out = order.amount_out_expected or 0
    return fill_from_deltas(
        side=order.side,
        sol_delta=-order.amount_in - meta.fee if buying else quoted_out - meta.fee,
        token_delta=quoted_out if buying else -order.amount_in,
        fee_lamports=meta.fee,
        decimals=token.decimals,
        exact_in_lamports=exact_in,
    )


def _with_tip(fill: Fill, *, order: Order) -> Fill:
    """A bundled order's fill with its tip (a transfer of its own, next to the swap) counted as a fee: a buy cost
    that much more, a sell brought that much less."""
    tip = order.tip_lamports if order.bundle_id else 0
    if not tip:
        return fill
    buying = order.side == OrderSide.BUY
    return replace(fill, in_amount=fill.in_amount + tip if buying else fill.in_amount,
                   out_amount=fill.out_amount if buying else max(1, fill.out_amount - tip),
                   fee_lamports=fill.fee_lamports + tip)


def _count(venue: str, outcome: str) -> None:
    metrics.trade_execution(venue=venue or "none", outcome=outcome)
