from __future__ import annotations

from celery import shared_task

from monitoring.services import heartbeat_record


@shared_task(name="monitoring.heartbeat", soft_time_limit=5, time_limit=10, ignore_result=True)
def heartbeat(component: str) -> None:
    heartbeat_record(component=component, detail={"via": "celery"})
