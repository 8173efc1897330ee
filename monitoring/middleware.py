"""HTTP middleware: request metrics per route, and the liveness fast path."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpResponse

from monitoring import metrics
from monitoring.checks import readiness_cached, readiness_components_parse, readiness_select, token_matches

LIVENESS_PATH = "/api/v1/health/"
READINESS_PATH = "/api/v1/health/ready/"


def _json(payload: dict, *, status: int = 200, head: bool = False) -> HttpResponse:
    body = json.dumps(payload).encode()
    response = HttpResponse(b"" if head else body, status=status, content_type="application/json")
    response["Content-Length"] = str(len(body))
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response._has_been_logged = True  # "not ready" is an answer, not a server error to log on every poll
    return response


class HealthMiddleware:
    """Answers the health probes before sessions, auth, CSRF, Axes, host checks and DRF run.

    - `GET /api/v1/health/` (liveness): never touches anything; answers a probe that addresses the pod by IP.
    - `GET /api/v1/health/ready/` without credentials: the bare status from the cached readiness report, or
      the detailed report with `?token=<MONITORING_READINESS_TOKEN>`; `?components=postgres,redis` judges those
      only (a web pod's readiness probe). A bad `components` goes on to the view, which answers the 400.
    A request carrying a session cookie or an Authorization header goes on to the DRF views (staff detail),
    which also document both endpoints in the OpenAPI schema.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if request.method not in ("GET", "HEAD") or path not in (LIVENESS_PATH, READINESS_PATH):
            return self.get_response(request)
        head = request.method == "HEAD"
        if path == LIVENESS_PATH:
            request.metrics_route = "api/v1/health/"
            return _json({"status": "ok", "version": settings.VERSION, "time": datetime.now(UTC).isoformat()}, head=head)
        if "HTTP_AUTHORIZATION" in request.META or settings.SESSION_COOKIE_NAME in request.COOKIES:
            return self.get_response(request)

        wanted = request.GET.get("components")
        names = None
        if wanted is not None:
            names = readiness_components_parse(wanted)
            if names is None:
                return self.get_response(request)
        request.metrics_route = "api/v1/health/ready/"
        report = readiness_cached()
        if names is not None:
            report = readiness_select(report, names)
        status = 200 if report["status"] == "ready" else 503
        if token_matches(request.GET.get("token"), settings.MONITORING_READINESS_TOKEN):
            return _json(report, status=status, head=head)
        return _json({"status": report["status"]}, status=status, head=head)


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else getattr(request, "metrics_route", "unmatched")
        metrics.http_observe(
            method=request.method if request.method in _METHODS else "other",
            route=route,
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
