"""HTTP request count and latency per route (the URL pattern, never the raw path: bounded label values)."""

from __future__ import annotations

import time

from monitoring import metrics


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        metrics.http_observe(
            method=request.method if request.method in _METHODS else "other",
            route=route,
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
