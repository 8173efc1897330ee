"""A paper trade through the real worker shows in /metrics: task counts on the trades queue, open positions, the exit."""

from decimal import Decimal

from tests.conftest import wait_for
from tests.fixtures.trading import mint_address
from tests.monitoring.test_metrics_endpoint import TOKEN, _scrape, _value
from trading.models import Order, Position
from trading.services import position_open, position_sell

SOL = 10**9


def test_metrics_after_a_paper_trade_show_it(client, readiness_settings, celery_worker, make_trader, price_standin):
    readiness_settings.METRICS_TOKEN = TOKEN
    readiness_settings.SOLANA_RPC_URL = price_standin.url
    readiness_settings.BAGS_API_URL = price_standin.url + "/api/v1"
    readiness_settings.DEXSCREENER_API_URL = None
    mint = mint_address()
    price_standin.set(mint, "0.0001", decimals=6)

    def executed(text):
        return _value(text, "jarvis_celery_tasks_total", task="trading.execute_order", queue="trades", state="succeeded")

    before = _scrape(client)
    trader = make_trader("metrics-paper", paper_balance_lamports=2 * SOL)
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 4)
    wait_for(lambda: Position.objects.get(pk=position.pk).status == "open", message="the paper buy")
    during = wait_for(lambda: (t := _scrape(client)) and executed(t) >= executed(before) + 1 and t,
                      message="the buy's task metrics")
    assert _value(during, "jarvis_open_positions", mode="paper") >= 1

    sell = position_sell(trader=trader, position_id=position.pk, percent=Decimal(100))
    wait_for(lambda: Order.objects.get(pk=sell.pk).status == "confirmed", message="the paper sell")
    after = wait_for(
        lambda: (t := _scrape(client))
        # ">=": other suites running at the same time share the metrics directory and may sell too
        and _value(t, "jarvis_exits_total", reason="manual") >= _value(before, "jarvis_exits_total", reason="manual") + 1
        and executed(t) >= executed(before) + 2
        and t,
        message="the exit and the sell's task in /metrics",
    )
    assert _value(after, "jarvis_celery_task_duration_seconds_count", task="trading.execute_order", queue="trades") >= 2
    fills = _value(after, "jarvis_trade_executions_total", venue="paper", outcome="confirmed")
    assert fills >= _value(before, "jarvis_trade_executions_total", venue="paper", outcome="confirmed") + 2  # buy, sell
