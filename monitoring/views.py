from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView


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
