"""schemathesis against the OpenAPI schema the desk serves (`/api/schema/`), in process through the WSGI app,
logged in as staff the way scripts are (HTTP basic auth): no 500, and every answer matches the schema (status
codes, content type, body). Bounded by max_examples so it stays well under a minute."""

from __future__ import annotations

import base64
import itertools

import pytest
import schemathesis
from schemathesis.auths import apply_basic_auth
from schemathesis.generation.modes import GenerationMode
from hypothesis import HealthCheck, given, settings

PASSWORD = "fuzz-staff-password-1"


@pytest.fixture
def api_schema(db, django_user_model, readiness_settings, clean_redis, settings):
    from django.contrib.auth.hashers import make_password
    from django.core import signals
    from django.db import close_old_connections

    from jarvis.wsgi import application

    from jarvis.celery import QUEUES

    settings.MONITORING_READINESS_CACHE_SECONDS = 60  # one readiness run serves the examples
    # Readiness answers 503 by design while no worker, beat or bot runs (tests/monitoring/test_readiness.py covers
    # that); here the desk counts as ready on Postgres and Redis alone, so any 5xx is a real server error.
    settings.MONITORING_READINESS_SKIP = [f"queue:{q}" for q in QUEUES] + ["beat", "price_feed", "bot", "solana_rpc",
                                                                                      "price_stream"]
    # schemathesis probes every operation with wrong passwords; the login lockout (tested in tests/security) would
    # otherwise lock the staff user out half-way.
    settings.AXES_ENABLED = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; not a product setting
    django_user_model.objects.create(username="fuzz-staff", password=make_password(PASSWORD), is_staff=True,
                                     is_superuser=True)
    # As Django's own test client does: the test's transaction must outlive each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    auth = {"Authorization": "Basic " + base64.b64encode(f"fuzz-staff:{PASSWORD}".encode()).decode()}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, headers=auth)
    yield schema
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_api_honours_its_own_schema(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/health/", "/api/v1/health/ready/", "/api/v1/dashboard/summary/"}
    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not operation.definition.raw.get("parameters"):
            continue  # nothing a client sends can break the schema of an operation without parameters
        # Each operation gets its own bounded hypothesis run, with schema-valid data and with data that breaks the
        # schema (which must be refused with a documented 4xx, never a 500).
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            # Declared as the case's own auth, so schemathesis also probes without it and with a wrong one (401/403).
            apply_basic_auth(case, "fuzz-staff", PASSWORD)
            case.call_and_validate()

        run()
