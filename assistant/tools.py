"""The desk tools /vibe's model may call: reads of the desk, and proposals that only write a proposal row.

Nothing here changes the desk. A `propose_*` tool records an `Action` waiting for the admin's button (see
`assistant.services.action_decide`); the model is told that nothing has changed. Results are JSON-able dicts; the
conversation redacts every secret out of them before they reach the provider (`assistant.provider`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.conf import settings

from assistant.models import Action


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    properties: dict
    required: tuple[str, ...]
    run: Callable[..., dict]
    proposal: bool = False

    def schema(self) -> dict:
        return {"name": self.name, "description": self.description,
                "input_schema": {"type": "object", "properties": self.properties, "required": list(self.required)}}


def desk_status() -> dict:
    from monitoring.checks import readiness_run
    from trading.models import KillSwitch

    report = readiness_run()
    global_switch = KillSwitch.objects.filter(trader__isnull=True).values("enabled", "changed_by", "reason").first()
    return {"readiness": report["status"],
            "components": {name: {"status": c["status"], "detail": c["detail"]} for name, c in report["components"].items()},
            "kill_switch": global_switch or {"enabled": False}, "trading_mode": settings.TRADING_MODE}


def queue_depths() -> dict:
    from monitoring.heartbeats import queue_consumers, redis_for
    from monitoring.selectors import queue_depths as depths

    found = depths()
    consumers = queue_consumers(redis_for(settings.REDIS_URL), list(found))
    return {"queues": {q: {"waiting": n, "consumers": len(consumers.get(q, ()))} for q, n in found.items()}}


def positions_open() -> dict:
    from trading.models import Position
    from trading.models.choices import POSITION_LIVE

    rows = (Position.objects.filter(status__in=POSITION_LIVE).order_by("-opened_at", "-id")
            .values("id", "trader_id", "token__symbol", "token__name", "token__mint", "mode", "status", "size",
                    "cost_lamports", "entry_price", "realised_pnl_lamports")[:50])
    return {"positions": [{**row, "entry_price": str(row["entry_price"]) if row["entry_price"] is not None else None}
                          for row in rows]}


def positions_stuck() -> dict:
    from trading.models import Position

    rows = (Position.objects.filter(exit_stuck_at__isnull=False).order_by("-exit_stuck_at")
            .values("id", "trader_id", "token__symbol", "token__mint", "status", "size", "exit_stuck_at")[:50])
    return {"positions": [{**row, "exit_stuck_at": row["exit_stuck_at"].isoformat()} for row in rows]}


def pnl_summary(trader_id: int = 0) -> dict:
    from monitoring.selectors import trades_today
    from trading.models import Trader
    from trading.selectors import pnl_summary as trader_pnl

    if not trader_id:
        return {"desk_today": trades_today()}
    trader = Trader.objects.filter(id=trader_id).first()
    if trader is None:
        return {"error": f"there is no trader {trader_id}"}
    return {"trader_id": trader_id, "pnl": trader_pnl(trader=trader)}


def alerts_recent() -> dict:
    from monitoring.selectors import alert_events_list

    return {"alerts": alert_events_list(limit=20)}


def order_get(order_id: int) -> dict:
    from trading.models import Order

    row = (Order.objects.filter(id=order_id)
           .values("id", "position_id", "trader_id", "side", "reason", "mode", "venue", "status", "amount_in",
                   "amount_out_expected", "amount_out_actual", "fill_price", "fee_lamports", "rent_lamports", "attempts", "signature",
                   "error", "created_at", "confirmed_at").first())
    if row is None:
        return {"error": f"there is no order {order_id}"}
    return {key: (value.isoformat() if hasattr(value, "isoformat") else str(value) if hasattr(value, "as_tuple") else value)
            for key, value in row.items()}


def trader_get(trader_id: int) -> dict:
    from trading.models import KillSwitch, Order, Position, Trader
    from trading.models.choices import POSITION_LIVE, OrderStatus

    trader = Trader.objects.filter(id=trader_id).values("id", "name", "is_paused", "created_at").first()
    if trader is None:
        return {"error": f"there is no trader {trader_id}"}
    switch = KillSwitch.objects.filter(trader_id=trader_id).values_list("enabled", flat=True).first()
    return {**trader, "created_at": trader["created_at"].isoformat(), "kill_switch": bool(switch),
            "open_positions": Position.objects.filter(trader_id=trader_id, status__in=POSITION_LIVE).count(),
            "failed_orders": Order.objects.filter(trader_id=trader_id, status=OrderStatus.FAILED).count()}


def log_search(word: str) -> dict:
    from jarvis.logbuffer import log_lines_search

    word = (word or "").strip()[:64]
    if len(word) < 3:
        return {"error": "give a word of at least 3 characters to search for"}
    return {"word": word, "lines": log_lines_search(word=word, since_seconds=3600, limit=30)}


def backup_status() -> dict:
    from backups.models import BackupRecord
    from backups.selectors import backup_latest

    def brief(record):
        if record is None:
            return None
        return {"id": record.pk, "kind": record.kind, "started_at": record.started_at.isoformat(),
                "size_bytes": record.size_bytes, "verified": record.verified_at is not None and not record.verify_error}

    failed = BackupRecord.objects.filter(status=BackupRecord.Status.FAILED).order_by("-started_at").first()
    return {"latest": brief(backup_latest()), "latest_verified": brief(backup_latest(verified=True)),
            "latest_failure": {"id": failed.pk, "started_at": failed.started_at.isoformat(), "error": failed.error[:300]}
            if failed else None}


# --- proposals: a row and a button, nothing more ---------------------------------------------------------------
def propose_kill_switch(enabled: bool, reason: str = "") -> dict:
    return {"kind": Action.Kind.KILL_SWITCH, "arguments": {"enabled": bool(enabled), "reason": str(reason)[:200]}}


def propose_order_retry(order_id: int) -> dict:
    return {"kind": Action.Kind.ORDER_RETRY, "arguments": {"order_id": int(order_id)}}


def propose_trader_pause(trader_id: int, paused: bool = True) -> dict:
    return {"kind": Action.Kind.TRADER_PAUSE, "arguments": {"trader_id": int(trader_id), "paused": bool(paused)}}


_INT = {"type": "integer", "minimum": 1}
TOOLS = {tool.name: tool for tool in (
    Tool("desk_status", "Readiness of every component (database, Redis, workers, beat, prices, bot, RPC), the global "
         "kill switch and the trading mode.", {}, (), desk_status),
    Tool("queue_depths", "Tasks waiting in each Celery queue and how many workers consume it.", {}, (), queue_depths),
    Tool("positions_open", "The newest open positions (up to 50): trader, token, size, cost, realised PnL.", {}, (),
         positions_open),
    Tool("positions_stuck", "Positions whose automatic exits keep failing.", {}, (), positions_stuck),
    Tool("pnl_summary", "Today's orders by status and realised PnL of the desk; with trader_id, that trader's PnL.",
         {"trader_id": {"type": "integer", "minimum": 0}}, (), pnl_summary),
    Tool("alerts_recent", "The 20 newest alert events.", {}, (), alerts_recent),
    Tool("order_get", "One order by id.", {"order_id": _INT}, ("order_id",), order_get),
    Tool("trader_get", "One trader by id: paused, kill switch, open positions, failed orders.", {"trader_id": _INT},
         ("trader_id",), trader_get),
    Tool("log_search", "Log lines of the last hour (warnings and errors) containing a word; secrets are removed.",
         {"word": {"type": "string", "minLength": 3, "maxLength": 64}}, ("word",), log_search),
    Tool("backup_status", "The newest backup, the newest verified backup and the newest failure.", {}, (), backup_status),
    Tool("propose_kill_switch", "Propose turning the global kill switch on (no new entries) or off. Only proposes: "
         "the admin must press a button.", {"enabled": {"type": "boolean"}, "reason": {"type": "string", "maxLength": 200}},
         ("enabled",), propose_kill_switch, proposal=True),
    Tool("propose_order_retry", "Propose retrying a failed order. Only proposes: the admin must press a button.",
         {"order_id": _INT}, ("order_id",), propose_order_retry, proposal=True),
    Tool("propose_trader_pause", "Propose pausing (or resuming) a trader: no new buys, exits keep running. Only "
         "proposes: the admin must press a button.", {"trader_id": _INT, "paused": {"type": "boolean"}}, ("trader_id",),
         propose_trader_pause, proposal=True),
)}


def tool_schemas() -> list[dict]:
    return [tool.schema() for tool in TOOLS.values()]


class ToolInputError(ValueError):
    pass


def tool_arguments(tool: Tool, raw) -> dict:
    """The model's arguments checked against the tool's schema (only known names, right types)."""
    if not isinstance(raw, dict):
        raise ToolInputError("arguments must be an object")
    unknown = set(raw) - set(tool.properties)
    missing = set(tool.required) - set(raw)
    if unknown or missing:
        raise ToolInputError(f"unknown {sorted(unknown)}, missing {sorted(missing)}")
    args = {}
    for name, value in raw.items():
        kind = tool.properties[name]["type"]
        if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ToolInputError(f"{name} must be a whole number")
        if kind == "boolean" and not isinstance(value, bool):
            raise ToolInputError(f"{name} must be true or false")
        if kind == "string" and not isinstance(value, str):
            raise ToolInputError(f"{name} must be text")
        args[name] = value
    return args
