"""Hot order reads compiled once: the same objects as the ORM's, in one query, relations included."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError
from django.forms.models import model_to_dict

from tests.fixtures.trading import mint_address
from trading.models import Order
from trading.services import position_open
from trading.services.compiled import CompiledRead
from trading.services.fills import order_locked_for_fill

pytestmark = pytest.mark.django_db
SOL = 10**9


def _same(a, b) -> bool:
    return type(a) is type(b) and a.pk == b.pk and model_to_dict(a) == model_to_dict(b)


def test_a_compiled_read_builds_what_the_orm_builds_in_one_query(trader, price_standin, django_assert_num_queries):
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    orders = [position_open(trader=trader, mint=mint, amount_lamports=SOL // 100).orders.get() for _ in range(2)]
    read = CompiledRead(lambda pk: Order.objects.select_related("position__token", "position__exit_plan").filter(id=pk))
    for order in orders * 2:  # the second round reuses the compiled SQL
        expected = Order.objects.select_related("position__token", "position__exit_plan").get(id=order.id)
        with django_assert_num_queries(1):
            got = read.get(order.id)
            assert _same(got, expected) and _same(got.position, expected.position)
            assert _same(got.position.token, expected.position.token)
            assert _same(got.position.exit_plan, expected.position.exit_plan)
            assert got.position.exit_plan.spec == expected.position.exit_plan.spec and got.client_id == expected.client_id
    assert read.get(10**12) is None


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction: autocommit, as a worker runs
def test_a_locking_read_needs_a_transaction_and_loads_what_a_fill_uses(trader, price_standin, django_assert_num_queries):
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    order = position_open(trader=trader, mint=mint, amount_lamports=SOL // 100).orders.get()
    with pytest.raises(TransactionManagementError):
        order_locked_for_fill(order_id=order.id)
    with transaction.atomic(), django_assert_num_queries(1):
        locked = order_locked_for_fill(order_id=order.id)
        assert locked.position.trader == trader and locked.position.token.mint == mint
        assert locked.position.exit_plan.stop_loss_pct > Decimal(0) and locked.amount_in == SOL // 100
    with transaction.atomic(), pytest.raises(Order.DoesNotExist):
        order_locked_for_fill(order_id=10**12)
