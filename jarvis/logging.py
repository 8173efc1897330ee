"""Correlation ids: one id follows an HTTP request or a Telegram update into every task it causes and onto every log
line; and the filter that keeps routine periodic runs out of the INFO log."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from django.core.exceptions import AppRegistryNotReady

from jarvis.periodic import routine_task_names

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


BEAT_SENDING = "Scheduler: Sending due task %s (%s)"  # celery.beat's line for each entry it sends


_NUMBER = re.compile(r"\b\d+\b")
_NOTHING = {"None", "False", "0", "{}", "[]", "()", "''"}


def result_shows_work(value: str) -> bool:
    """Whether a task's result (Celery's repr of it) says the run did something: not empty, not only zero counts."""
    value = str(value).strip()
    if value in _NOTHING:
        return False
    numbers = _NUMBER.findall(value)
    return not numbers or any(int(number) for number in numbers)


class RoutineTaskFilter(logging.Filter):
    """Celery's lines for each run of a periodic housekeeping task (the worker's "received" and "succeeded", beat's
    "Sending due task") go out at DEBUG: the 1 s exit sweep alone would write two INFO lines a second. A run that did
    something keeps its INFO "succeeded" line when its result says so (a count above zero), and says so in its own
    log line where it has one; failures, retries and every other task keep their level."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._names: frozenset[str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._routine(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    def _routine(self, record: logging.LogRecord) -> bool:
        if record.name == "celery.beat" and record.msg == BEAT_SENDING and isinstance(record.args, tuple):
            task = record.args[-1]
        elif record.msg in (LOG_RECEIVED, LOG_SUCCESS) and isinstance(record.args, dict):
            task = record.args.get("name")
            if record.msg == LOG_SUCCESS and result_shows_work(record.args.get("return_value", "None")):
                return False
        else:
            return False
        return task in self._routine_names()

    def _routine_names(self) -> frozenset[str]:
        if self._names is None:
            try:
                self._names = routine_task_names()
            except AppRegistryNotReady:  # logging before Django is set up: nothing is routine yet
                return frozenset()
        return self._names
