"""The admin front page's charts of the last 7 days: the series (realised PnL, volume, exit latency per UTC day, zero
on days without data) from orders as the fills record them, and the inline SVG drawn from them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from jarvis.charts import svg_chart
from jarvis.selectors import desk_week_series
from trading.models import Order, Position

SOL = 10**9
NOW = datetime(2026, 12, 9, 15, 0, tzinfo=dt_timezone.utc)  # a Wednesday


def _order(position, *, side, at, status="confirmed", reason="manual", amount_in=1, out=None, pnl=None,
           submitted_after_ms=None, confirmed_after_ms=0):
    order = Order.objects.create(position=position, trader=position.trader, side=side, reason=reason, mode="paper",
                                 status=status, amount_in=amount_in, amount_out_actual=out, realised_pnl_lamports=pnl)
    Order.objects.filter(pk=order.pk).update(
        created_at=at,
        submitted_at=None if submitted_after_ms is None else at + timedelta(milliseconds=submitted_after_ms),
        confirmed_at=None if status != "confirmed" else at + timedelta(milliseconds=confirmed_after_ms))
    return order


def seed_week(trader, token, now: datetime = NOW) -> dict:
    """Orders over the week up to `now`; returns the series the front page must show for them."""
    position = Position.objects.create(trader=trader, token=token, mode="paper", status="closed")
    day = now.replace(hour=10, minute=0)
    _order(position, side="buy", at=day - timedelta(days=6), amount_in=SOL // 10)  # Thursday: 0.1 SOL in
    _order(position, side="sell", at=day - timedelta(days=6, hours=-2), out=2 * SOL // 10, pnl=5 * SOL // 100)
    _order(position, side="sell", reason="sl", at=day - timedelta(days=3), out=SOL // 20, pnl=-2 * SOL // 100,
           submitted_after_ms=400, confirmed_after_ms=900)  # Sunday: three automatic exits
    _order(position, side="sell", reason="tp", at=day - timedelta(days=3, minutes=-5), status="submitted",
           submitted_after_ms=1200)
    _order(position, side="sell", reason="trailing", at=day - timedelta(days=3, minutes=-9), out=SOL // 100, pnl=0,
           confirmed_after_ms=2000)  # no send time recorded: trigger to fill
    _order(position, side="sell", reason="manual", at=day - timedelta(days=3, minutes=-20), status="failed",
           submitted_after_ms=90_000)  # a trader's own sell: no trigger, no exit latency; failed: no volume
    _order(position, side="buy", at=day - timedelta(days=8), amount_in=7 * SOL)  # older than the week
    _order(position, side="buy", at=day, amount_in=3 * SOL // 10)  # today
    return {"pnl_lamports": [5 * SOL // 100, 0, 0, -2 * SOL // 100, 0, 0, 0],
            "volume_lamports": [3 * SOL // 10, 0, 0, 6 * SOL // 100, 0, 0, 3 * SOL // 10],
            "exit_latency_ms": [0, 0, 0, 1200, 0, 0, 0], "exits_triggered": [0, 0, 0, 3, 0, 0, 0]}


@pytest.mark.django_db
def test_the_week_series_per_day_zero_where_nothing_happened(trader, token):
    expected = seed_week(trader, token)
    series = desk_week_series(now=NOW)
    assert [d.isoformat() for d in series["days"]] == [f"2026-12-{n:02d}" for n in range(3, 10)]
    assert {k: series[k] for k in expected} == expected


def test_the_svg_has_a_bar_or_point_per_value_axes_labels_and_escaped_text():
    labels = ["Mon 07", "Tue 08", "<b>"]
    bars = svg_chart(chart_id="c", title="PnL & more", labels=labels, values=[5, -3, 0], fmt=str)
    assert bars.startswith("<svg") and "<title>PnL &amp; more</title>" in bars and "<b>" not in bars
    assert len(re.findall(r'<rect class="bar"', bars)) == 3 and bars.count('class="axis"') == 2
    assert re.search(r'<rect class="bar" data-value="-3"[^>]*fill="#ba2121"', bars)  # a loss: red, below zero
    assert [m for m in re.findall(r'class="y-label"[^>]*>([^<]*)<', bars)] == ["-3", "0", "5"]
    line = svg_chart(chart_id="l", title="t", labels=labels, values=[0, 0, 0], fmt=str, kind="line")
    assert len(re.findall(r'<circle class="point"', line)) == 3 and 'class="line"' in line
    with pytest.raises(ValueError):
        svg_chart(chart_id="x", title="t", labels=labels, values=[1], fmt=str)
