"""The local desk's log says what happened, not that the clock ticked: each run of a periodic housekeeping task logs
at DEBUG; a failure, and every task that is not housekeeping, keep their level.

The records below are written by Celery's own logging calls (celery.app.trace.info, the worker's and beat's format
strings) through the console handler the settings configure. The desk run at INFO is tests/jarvis/test_desk_config.py.
"""

import io
import logging
import logging.config

import pytest
from celery.app import trace
from django.conf import settings

from jarvis.logging import BEAT_SENDING, result_shows_work


@pytest.fixture
def console(monkeypatch):
    """The settings' LOGGING with its console handler writing to a buffer, restored afterwards."""
    stream = io.StringIO()
    handlers = {**settings.LOGGING["handlers"], "console": {**settings.LOGGING["handlers"]["console"], "stream": stream,
                                                            "formatter": "text"}}
    config = {**settings.LOGGING, "handlers": handlers}
    logging.config.dictConfig(config)
    yield stream
    logging.config.dictConfig(settings.LOGGING)


def run(name: str, *, returned: str = "None") -> None:
    context = {"id": "0f0f", "name": name, "args": "()", "kwargs": "{}", "eta": None}
    logging.getLogger("celery.beat").info(BEAT_SENDING, f"entry {name}", name)
    logging.getLogger("celery.worker.strategy").info(trace.LOG_RECEIVED, context)
    trace.info(trace.LOG_SUCCESS, {**context, "runtime": 0.001, "return_value": returned})


def test_each_run_of_the_sweep_and_the_heartbeat_logs_at_debug_not_info(console):
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("celery").setLevel(logging.INFO)
    run("trading.tpsl_sweep")
    run("monitoring.heartbeat")
    assert console.getvalue() == ""
    run("trading.execute_order", returned="{'status': 'confirmed'}")  # not housekeeping: every line at INFO
    lines = console.getvalue().splitlines()
    assert len(lines) == 3 and all(" INFO " in line and "trading.execute_order" in line for line in lines)


def test_at_debug_the_routine_lines_are_there_marked_debug(console):
    logging.getLogger("celery").setLevel(logging.DEBUG)
    try:
        run("trading.tpsl_sweep")
    finally:
        logging.getLogger("celery").setLevel(logging.INFO)
    lines = console.getvalue().splitlines()
    assert len(lines) == 3 and all(" DEBUG " in line and "trading.tpsl_sweep" in line for line in lines)


def test_a_failed_sweep_and_the_sweeps_own_report_keep_their_level(console):
    logging.getLogger("celery").setLevel(logging.INFO)
    logging.getLogger("trading").setLevel(logging.INFO)
    context = {"id": "0f0f", "name": "trading.tpsl_sweep", "description": "raised unexpected", "exc": "boom"}
    logging.getLogger("celery.app.trace").error(trace.LOG_FAILURE, context)
    logging.getLogger("trading.tpsl.runner").info("tpsl sweep %s", {"claimed": 1})
    text = console.getvalue()
    assert " ERROR celery.app.trace " in text and "trading.tpsl_sweep[0f0f] raised unexpected: boom" in text
    assert " INFO trading.tpsl.runner " in text and "tpsl sweep {'claimed': 1}" in text


def test_a_routine_run_whose_result_shows_work_keeps_its_succeeded_line_at_info(console):
    logging.getLogger("celery").setLevel(logging.INFO)
    run("trading.reconcile_orders", returned="{'orders': {'resolved': 0, 'expired': 0}}")
    assert console.getvalue() == ""
    run("trading.reconcile_orders", returned="{'orders': {'resolved': 2, 'expired': 0}}")
    (line,) = console.getvalue().splitlines()
    assert " INFO celery.app.trace " in line and "succeeded" in line and "'resolved': 2" in line


@pytest.mark.parametrize(("result", "work"), [
    ("None", False), ("0", False), ("{}", False), ("{'fired': 0, 'resolved': 0}", False), ("3", True),
    ("{'fired': 1, 'resolved': 0}", True), ("{'key': 'k1', 'n': 0}", False), ("'done'", True),
])
def test_what_counts_as_work_in_a_result(result, work):
    assert result_shows_work(result) is work
