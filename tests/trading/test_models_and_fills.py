"""Database rules and the join points both order paths use (order_transition, order_fail, position_apply_fill)."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from jarvis.events import event_subscribe, event_unsubscribe
from trading.events import KINDS
from trading.models import DomainEvent, KillSwitch, Order, OrderStatus, Position, RiskLimits
from trading.services import order_fail, order_transition, position_apply_fill
from trading.services.exits import exit_plan_create
from trading.tpsl.plans import preset

pytestmark = pytest.mark.django_db


def _opening(trader, token, amount=10**9):
    position = Position.objects.create(trader=trader, token=token, mode="paper", cost_lamports=amount)
    exit_plan_create(position=position, spec=preset("balanced"))
    order = Order.objects.create(position=position, side="buy", mode="paper", amount_in=amount)
    return position, order


def test_buy_fill_opens_position_with_entry_price_and_triggers(trader, token):
    position, order = _opening(trader, token)
    position_apply_fill(order_id=order.id, in_amount=10**9, out_amount=2_000_000_000, price=Decimal("0.5"), fee_lamports=10**7)
    position.refresh_from_db()
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED and order.confirmed_at is not None
    assert position.status == "open" and position.size == 2_000_000_000 == position.original_size
    assert position.entry_price == Decimal("0.0005")  # 1 SOL for 2000 whole tokens (6 decimals)
    assert position.stop_price == Decimal("0.0004")  # balanced: 20% stop
    assert position.take_profit_price == Decimal("0.001")  # first leg at 2x
    assert DomainEvent.objects.filter(kind="position.opened", trader=trader).count() == 1


def test_fill_is_idempotent(trader, token):
    position, order = _opening(trader, token)
    for _ in range(2):
        position_apply_fill(order_id=order.id, in_amount=10**9, out_amount=1000, price=Decimal(1), fee_lamports=0)
    position.refresh_from_db()
    assert position.size == 1000
    assert DomainEvent.objects.filter(kind="position.opened").count() == 1


def test_partial_then_full_sell_realises_pnl(trader, token):
    position, order = _opening(trader, token)
    position_apply_fill(order_id=order.id, in_amount=10**9, out_amount=1000, price=Decimal(1), fee_lamports=0)
    sell = Order.objects.create(position=position, side="sell", mode="paper", amount_in=400)
    position_apply_fill(order_id=sell.id, in_amount=400, out_amount=6 * 10**8, price=Decimal(2), fee_lamports=0)
    position.refresh_from_db()
    assert (position.size, position.cost_lamports, position.realised_pnl_lamports) == (600, 6 * 10**8, 2 * 10**8)
    assert position.status == "open"
    final = Order.objects.create(position=position, side="sell", mode="paper", amount_in=600)
    position_apply_fill(order_id=final.id, in_amount=600, out_amount=3 * 10**8, price=Decimal(1), fee_lamports=0)
    position.refresh_from_db()
    assert position.status == "closed" and position.size == 0 and position.cost_lamports == 0
    assert position.realised_pnl_lamports == 2 * 10**8 - 3 * 10**8
    kinds = list(DomainEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["position.opened", "exit.filled", "exit.filled", "position.closed"]


@pytest.mark.parametrize("returned", [True, False])
def test_rent_is_a_deposit_in_pnl_and_a_loss_only_when_not_returned(trader, token, returned):
    """Rent stays out of cost, proceeds and the entry price; realised PnL counts it only when the position closes
    with rent paid and not returned (the account left open)."""
    rent = 2_039_280
    position, order = _opening(trader, token)
    position_apply_fill(order_id=order.id, in_amount=10**9, out_amount=1000, price=Decimal(1), fee_lamports=5000,
                        rent_lamports=rent)
    position.refresh_from_db()
    assert (position.cost_lamports, position.rent_lamports, position.entry_price) == (10**9, rent, Decimal(1000))
    half = Order.objects.create(position=position, side="sell", mode="paper", amount_in=500)
    position_apply_fill(order_id=half.id, in_amount=500, out_amount=6 * 10**8, price=Decimal(2), fee_lamports=0)
    position.refresh_from_db()
    assert position.realised_pnl_lamports == 10**8 and position.rent_lamports == rent  # the account is still open
    final = Order.objects.create(position=position, side="sell", mode="paper", amount_in=500)
    position_apply_fill(order_id=final.id, in_amount=500, out_amount=4 * 10**8, price=Decimal(2), fee_lamports=0,
                        rent_lamports=-rent if returned else 0)
    position.refresh_from_db()
    final.refresh_from_db()
    lost = 0 if returned else rent
    assert final.realised_pnl_lamports == -10**8 - lost and final.rent_lamports == (-rent if returned else 0)
    assert position.realised_pnl_lamports == -lost and position.proceeds_lamports == 10**9
    assert position.status == "closed" and position.rent_lamports == lost


def test_one_inflight_exit_per_position_is_a_database_rule(trader, token):
    position, _ = _opening(trader, token)
    Order.objects.create(position=position, side="sell", mode="paper", amount_in=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(position=position, side="sell", mode="paper", amount_in=1)
    Order.objects.filter(position=position, side="sell").update(status=OrderStatus.FAILED)
    Order.objects.create(position=position, side="sell", mode="paper", amount_in=1)


@pytest.mark.parametrize(
    "field,value",
    [("size", -1), ("cost_lamports", -5), ("proceeds_lamports", -1), ("fees_lamports", -1)],
)
def test_negative_position_amounts_are_refused_by_the_database(trader, token, field, value):
    position, _ = _opening(trader, token)
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.filter(id=position.id).update(**{field: value})


def test_order_amounts_must_be_positive_and_client_id_unique(trader, token):
    position, order = _opening(trader, token)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(position=position, side="buy", mode="paper", amount_in=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(position=position, side="buy", mode="paper", amount_in=5, client_id=order.client_id)


def test_global_rows_are_singletons(trader):
    RiskLimits.objects.create()
    KillSwitch.objects.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskLimits.objects.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        KillSwitch.objects.create()
    RiskLimits.objects.create(trader=trader)
    KillSwitch.objects.create(trader=trader)


def test_order_transition_is_compare_and_swap(trader, token):
    _, order = _opening(trader, token)
    assert order_transition(order_id=order.id, from_statuses=["pending"], to_status="quoting") is True
    assert order_transition(order_id=order.id, from_statuses=["pending"], to_status="quoting") is False
    with pytest.raises(ValueError):
        order_transition(order_id=order.id, from_statuses=["confirmed"], to_status="pending")


def test_failed_buy_fails_position_and_publishes_once_on_commit(trader, token, django_capture_on_commit_callbacks):
    seen = []
    event_subscribe(seen.append, kinds=KINDS)
    try:
        position, order = _opening(trader, token)
        with django_capture_on_commit_callbacks(execute=True):
            assert order_fail(order_id=order.id, error="no route") is True
            assert order_fail(order_id=order.id, error="again") is False
    finally:
        event_unsubscribe(seen.append)
    position.refresh_from_db()
    order.refresh_from_db()
    assert (order.status, order.error) == ("failed", "no route")
    assert position.status == "failed" and position.cost_lamports == 0
    assert seen == list(DomainEvent.objects.filter(kind="order.failed").values_list("id", flat=True))
    assert len(seen) == 1


def test_a_subscriber_of_some_kinds_is_called_for_those_only(trader, token, django_capture_on_commit_callbacks):
    every, failures = [], []
    event_subscribe(every.append, kinds=KINDS)
    event_subscribe(failures.append, kinds=["order.failed"])
    try:
        with django_capture_on_commit_callbacks(execute=True):
            position, order = _opening(trader, token)
            position_apply_fill(order_id=order.id, in_amount=10**9, out_amount=10**6, price=Decimal(1), fee_lamports=0)
            _, doomed = _opening(trader, token)
            order_fail(order_id=doomed.id, error="no route")
    finally:
        event_unsubscribe(every.append)
        event_unsubscribe(failures.append)
    opened = DomainEvent.objects.get(kind="position.opened").id
    failed = DomainEvent.objects.get(kind="order.failed").id
    assert every == [opened, failed] and failures == [failed]
    with pytest.raises(ValueError):
        event_subscribe(failures.append, kinds=["no.such.kind"])
