"""API plumbing shared by every DRF view: JSON errors with a stable code, never a stack trace."""

from __future__ import annotations

import logging

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", extra={"view": type(context.get("view")).__name__})
        return Response(
            {"error": {"code": "internal_error", "message": "Something went wrong on our side; it has been logged."}},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    code = getattr(exc, "default_code", "error")
    detail = response.data
    message = detail.get("detail") if isinstance(detail, dict) and "detail" in detail else detail
    response.data = {"error": {"code": str(code), "message": message}}
    return response
