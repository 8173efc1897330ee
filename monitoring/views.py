from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.checks import (
    COMPONENTS_PATTERN,
    readiness_cached,
    readiness_components_parse,
    readiness_select,
    token_matches,
)
from monitoring.collectors import metrics_exposition


class LivenessView(APIView):
    """Liveness: the web process answers. Touches no database, cache or broker."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses=inline_serializer(
            "Liveness",
            {"status": serializers.CharField(), "version": serializers.CharField(), "time": serializers.DateTimeField()},
        )
    )
    def get(self, request):
        return Response({"status": "ok", "version": settings.VERSION, "time": timezone.now().isoformat()})


READINESS = inline_serializer(
    "Readiness",
    {
        "status": serializers.ChoiceField(["ready", "not_ready"]),
        "checked_at": serializers.DateTimeField(required=False),
        "components": serializers.DictField(
            child=inline_serializer(
                "ReadinessComponent",
                {
                    "status": serializers.ChoiceField(["up", "down"]),
                    "latency_ms": serializers.FloatField(),
                    "detail": serializers.CharField(),
                },
            ),
            required=False,
        ),
    },
)


class ReadinessView(APIView):
    """Readiness: 200 when every component is up, 503 otherwise. Details for staff or with the readiness token.

    ``?components=postgres,redis`` judges those components only: a web pod's readiness probe (deploy/k8s) asks
    whether this pod reaches its database and Redis, not whether the whole desk is up."""

    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []

    @extend_schema(
        parameters=[
            OpenApiParameter("token", str, description="MONITORING_READINESS_TOKEN: shows per-component detail"),
            OpenApiParameter("components", str, pattern=COMPONENTS_PATTERN,
                             description="comma-separated components to judge (default: all), e.g. postgres,redis"),
        ],
        responses={200: READINESS, 503: READINESS},
    )
    def get(self, request):
        report = readiness_cached()
        wanted = request.query_params.get("components")
        if wanted is not None:
            names = readiness_components_parse(wanted)
            if names is None:
                raise serializers.ValidationError(
                    {"components": "Give readiness components separated by commas: postgres, redis, queue:<name>, workers, beat, "
                                   "price_feed, bot, mode or solana_rpc."}
                )
            report = readiness_select(report, names)
        code = 200 if report["status"] == "ready" else 503
        token = request.query_params.get("token")
        if token_matches(token, settings.MONITORING_READINESS_TOKEN) or (token is None and request.user.is_staff):
            response = Response(report, status=code)
        else:
            response = Response({"status": report["status"]}, status=code)
        # "Not ready" is an answer, not a server error: the alert rules report it, once, not every poll.
        response._has_been_logged = True
        return response


@require_GET
def metrics_view(request):
    """Prometheus exposition; only with `Authorization: Bearer <METRICS_TOKEN>`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token_matches(token.strip(), settings.METRICS_TOKEN):
        response = HttpResponse("metrics need Authorization: Bearer <METRICS_TOKEN>\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response

    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)
