"""Operator dashboard API (staff: session or basic auth). Read-only; each view calls selectors and renders."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import selectors
from monitoring.budgets import budget_usage
from monitoring.checks import readiness_cached
from monitoring.taskstats import task_outcomes


def _bounded(name: str, maximum: int) -> OpenApiParameter:
    """The schema of an integer query parameter, with the bounds `_int_param` enforces."""
    return OpenApiParameter(name, {"type": "integer", "minimum": 1, "maximum": maximum})


def _int_param(request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # isascii: str.isdigit() also admits '²' and other digits int() refuses (that was a 500).
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise ValidationError({name: f"must be a whole number from 1 to {maximum}"}, code="invalid_parameter")
    return int(raw)


class DashboardView(APIView):
    """Base: staff only (the project default permission), JSON answers."""

    @staticmethod
    def unavailable(name: str) -> dict:
        return {"available": False, "reason": f"the trading app has no {name} yet", "results": []}


class SummaryView(DashboardView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Open positions, PnL today, trades, error rate, queues, health")
    def get(self, request):
        failed, finished = task_outcomes(minutes=15)
        health = readiness_cached()
        return Response({
            "open_positions": selectors.open_positions_by_mode(),
            "trades_today": selectors.trades_today(),
            "error_rate_15m": {"failed": failed, "finished": finished,
                               "percent": round(failed * 100 / finished, 2) if finished else 0.0},
            "queue_depths": selectors.queue_depths(),
            "health": {"status": health["status"],
                       "components": {k: v["status"] for k, v in health["components"].items()}},
            "alerts_firing": len(selectors.alert_events_list(state="firing")),
        })


class PositionsView(DashboardView):
    @extend_schema(responses=OpenApiTypes.OBJECT, parameters=[_bounded("limit", 1000)])
    def get(self, request):
        rows = selectors.positions_open_list(limit=_int_param(request, "limit", 200, 1000))
        return Response(self.unavailable("positions") if rows is None else {"available": True, "results": rows})


class TradesView(DashboardView):
    @extend_schema(responses=OpenApiTypes.OBJECT, parameters=[_bounded("limit", 1000)])
    def get(self, request):
        rows = selectors.trades_recent_list(limit=_int_param(request, "limit", 100, 1000))
        return Response(self.unavailable("orders") if rows is None else {"available": True, "results": rows})


class AlertsView(DashboardView):
    @extend_schema(responses=OpenApiTypes.OBJECT, parameters=[OpenApiParameter("state", str, enum=["firing", "resolved"]),
                                                               _bounded("limit", 1000)])
    def get(self, request):
        state = request.query_params.get("state")
        if state not in (None, "firing", "resolved"):
            raise ValidationError({"state": "must be firing or resolved"}, code="invalid_parameter")
        limit = _int_param(request, "limit", 100, 1000)
        return Response({"results": selectors.alert_events_list(state=state, limit=limit)})


class UptimeView(DashboardView):
    @extend_schema(responses=OpenApiTypes.OBJECT, parameters=[_bounded("hours", 24 * 30)])
    def get(self, request):
        hours = _int_param(request, "hours", 24, 24 * 30)
        return Response({"percent": selectors.uptime_percentages(), "history": selectors.uptime_history(hours=hours)})


class BudgetsView(DashboardView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response({"results": budget_usage()})
