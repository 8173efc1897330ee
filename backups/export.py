"""A JSON export of the desk's state (positions, orders, exit plans, settings, ...) for people and for moving elsewhere.

Every model of the `trading` app is exported, field by field, except anything secret: binary fields (the encrypted
wallet secret, signed transaction bytes) and any field whose name says it holds a secret. Found at run time, so it
works whatever models the trading app has today.
"""

from __future__ import annotations

import json
import re
from typing import IO

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

SECRET_FIELD = re.compile(r"secret|password|private|seed|mnemonic|api_key|token_hash", re.IGNORECASE)
FORMAT_VERSION = 1


def exportable_fields(model) -> list[str]:
    names = []
    for field in model._meta.concrete_fields:
        if isinstance(field, models.BinaryField) or SECRET_FIELD.search(field.name):
            continue
        names.append(field.attname)
    return names


def state_export(*, stream: IO[str]) -> dict[str, int]:
    """Write the export to ``stream``; return the number of rows per model. One read-only snapshot."""
    try:
        trading_models = list(apps.get_app_config("trading").get_models())
    except LookupError:
        trading_models = []
    counts: dict[str, int] = {}
    data: dict[str, list] = {}
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":  # one snapshot for every model
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for model in sorted(trading_models, key=lambda m: m._meta.label):
            fields = exportable_fields(model)
            rows = list(model.objects.order_by("pk").values(*fields))
            data[model._meta.label] = rows
            counts[model._meta.label] = len(rows)
    document = {"format": "jarvis-state", "version": FORMAT_VERSION, "exported_at": timezone.now().isoformat(),
                "counts": counts, "models": data}
    json.dump(document, stream, cls=DjangoJSONEncoder, indent=1, sort_keys=True)
    return counts
