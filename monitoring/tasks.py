"""Monitoring tasks (default queue). Interfaces only: each calls one service."""

from __future__ import annotations

import logging

import httpx
from celery import shared_task

from jarvis.celery import MODE_HEADER, request_header
from monitoring.alerts import alerts_evaluate
from monitoring.budgets import budget_usage_sync
from monitoring.services import heartbeat_record, heartbeat_row_record
from monitoring.uptime import uptime_prune, uptime_record
from monitoring.webhook import webhook_deliver

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="monitoring.heartbeat", soft_time_limit=5, time_limit=10, ignore_result=True)
def heartbeat(self, component: str) -> None:
    """Beat's heartbeat: proves beat schedules and a default-queue worker runs it. It carries beat's trading mode
    (the publisher's, jarvis.celery.MODE_HEADER), not the worker's."""
    heartbeat_record(component=component, detail={"via": "celery"}, mode=request_header(self.request, MODE_HEADER))
    heartbeat_row_record(component=component, detail={"via": "celery"})


@shared_task(name="monitoring.evaluate_alerts", soft_time_limit=20, time_limit=30, ignore_result=True)
def evaluate_alerts() -> dict:
    return alerts_evaluate()


@shared_task(name="monitoring.record_uptime", soft_time_limit=20, time_limit=30, ignore_result=True)
def record_uptime() -> int:
    return uptime_record()


@shared_task(name="monitoring.prune_uptime", soft_time_limit=120, time_limit=180, ignore_result=True)
def prune_uptime() -> int:
    return uptime_prune()


@shared_task(name="monitoring.sync_budgets", soft_time_limit=30, time_limit=60, ignore_result=True)
def sync_budgets() -> int:
    return budget_usage_sync()


@shared_task(
    name="monitoring.alert_webhook",
    bind=True,
    soft_time_limit=20,
    time_limit=30,
    ignore_result=True,
    autoretry_for=(httpx.TransportError, httpx.HTTPStatusError),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def alert_webhook(self, alert_event_id: int) -> None:
    webhook_deliver(alert_event_id=alert_event_id)
