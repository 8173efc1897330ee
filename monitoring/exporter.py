"""Each worker and bot process serves its own metrics on ``METRICS_PORT`` (0: off), so a process on any host can be
scraped: no directory shared between hosts or containers.

The process's main process serves prometheus_client's own HTTP exposition on a thread, merging the multiprocess files
of its pool (Celery's prefork children, the bot's answering processes) with the library's `MultiProcessCollector`.
In a container each pod or service has its own ``PROMETHEUS_MULTIPROC_DIR`` (an emptyDir in deploy/k8s), so what one
process serves is that pod's alone. The desk-wide gauges (queue depths, open positions, ...) stay on web's /metrics.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from monitoring import metrics

logger = logging.getLogger(__name__)


def metrics_serve(*, port: int, address: str = "0.0.0.0"):
    """Serve this process's and its children's counters on ``http://address:port/metrics``; returns the server."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=metrics.MULTIPROC_DIR)
    server, _thread = start_http_server(port, addr=address, registry=registry)
    logger.info("serving metrics on port %s", port)
    return server
