"""Hot single-row reads compiled to SQL once per process.

Django compiles a queryset to SQL on every evaluation; for the order reads of the buy path (an order with its position,
token and wallet or exit plan: four models, ~80 columns) that costs about 2 ms of CPU each time, more than Postgres
spends running them. A `CompiledRead` compiles its queryset once (per connection) with a stand-in id, then runs the
same SQL with the real id (a prepared statement on Postgres: see trading.services.prepared) and builds the instances,
related objects included, the way Django's own iterator does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError

from trading.services import prepared

_STAND_IN = -7_391_104_377  # the id the SQL is compiled with: no row has it, and no other parameter equals it


class CompiledRead:
    """`build(pk)` -> a queryset filtering on `pk` (select_related and select_for_update allowed), read by `get`."""

    def __init__(self, build: Callable[[int], QuerySet], *, locking: bool = False):
        self._build = build
        self._locking = locking
        self._compiled: dict[int, tuple] = {}
        self._guard = threading.Lock()

    def get(self, pk: int, *, using: str = "default") -> Model | None:
        """The one row `build(pk)` selects, as a model instance with its selected relations; None if there is none."""
        connection = connections[using]
        if self._locking and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        entry = self._compiled.get(id(connection))
        if entry is None:
            entry = self._compile(connection, using)
        compiler, sql, params, slot, model, init_list, start, end, populators, converters = entry
        params = list(params)
        params[slot] = pk
        with connection.cursor() as cursor:
            prepared.execute(connection, cursor, sql, params)
            found = cursor.fetchone()
        if found is None:
            return None
        row = next(compiler.apply_converters([found], converters)) if converters else found
        obj = model.from_db(using, init_list, row[start:end])
        for populator in populators:
            populator.populate(row, obj)
        return obj

    def _compile(self, connection, using: str) -> tuple:
        compiler = self._build(_STAND_IN).query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots = [i for i, value in enumerate(params) if value == _STAND_IN]
        if len(slots) != 1:
            raise ValueError("a compiled read filters on exactly one id")
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, using)
        # the converters of the selected columns (JSON, decimals, ...), found once rather than on every read
        converters = compiler.get_converters([column[0] for column in select[: compiler.col_count]])
        entry = (
            compiler, sql, tuple(params), slots[0], klass_info["model"], init_list, start, end, populators, converters
        )
        with self._guard:
            self._compiled[id(connection)] = entry
        return entry
