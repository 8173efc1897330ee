"""The webhook: checks the secret, stores the update (deduplicated by update_id) and answers at once;
`runbot --webhook` processes what is stored, so a process dying after the 200 loses nothing."""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telegram_app.services import webhook_update_store

logger = logging.getLogger(__name__)


def webhook_path() -> str:
    return f"telegram/{settings.TELEGRAM_WEBHOOK_SECRET}/"


@csrf_exempt
@require_POST
def webhook(request, secret: str):
    expected = settings.TELEGRAM_WEBHOOK_SECRET or ""
    header = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    # Compared as bytes: compare_digest raises TypeError on non-ASCII text (a path or header anyone can send).
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()) or not hmac.compare_digest(
            header.encode(), expected.encode()):
        return HttpResponseForbidden()
    try:
        payload = json.loads(request.body)
        fresh = webhook_update_store(payload=payload)
    except (ValueError, TypeError):
        return JsonResponse({"code": "bad_update", "message": "Not a Telegram update."}, status=400)
    if not fresh:
        logger.info("webhook: duplicate update %s dropped", payload.get("update_id"))
    return HttpResponse(status=200)
