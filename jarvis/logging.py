"""Correlation ids: one id follows an HTTP request or a Telegram update into every task it causes and onto every log line."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

# Celery message header. Not "correlation_id": Celery sets request.correlation_id to the task id itself.
HEADER = "jarvis_correlation_id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_id() -> str:
    return uuid.uuid4().hex


def get() -> str | None:
    return correlation_id.get()


def bind(value: str | None) -> contextvars.Token:
    return correlation_id.set(value)


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get() or "-"
        return True


class CorrelationIdMiddleware:
    """Takes X-Request-ID when it is well formed, otherwise makes one; echoes it back on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        value = incoming if _VALID.match(incoming) else new_id()
        token = correlation_id.set(value)
        try:
            response = self.get_response(request)
        finally:
            correlation_id.reset(token)
        response["X-Request-ID"] = value
        return response
