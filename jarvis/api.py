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


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"description": "one readable sentence, or per-parameter sentences for 400"},
            },
        }
    },
}
_ERRORS = {
    "400": "A query parameter is invalid.",
    "401": "Not logged in.",
    "403": "Not allowed: missing or wrong credentials, or not staff.",
}


def schema_error_responses(result, generator, request, public):
    """drf-spectacular post-processing: document the JSON errors every operation can answer (see `exception_handler`),
    so the schema describes what clients really get: 400 where there are parameters, 401/403 wherever credentials are
    read (a wrong password is refused even on the public readiness check)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            wanted = ["400"] if operation.get("parameters") else []
            if any(requirement for requirement in operation.get("security", [{}])):
                wanted += ["401", "403"]
            for status in wanted:
                responses.setdefault(status, {"description": _ERRORS[status], "content": ref})
    return result
