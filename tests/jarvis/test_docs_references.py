"""The operator docs name only things that exist: commands, admin actions, alert rules, API endpoints."""

import re
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.management import get_commands
from django.test import RequestFactory
from drf_spectacular.generators import SchemaGenerator

from monitoring.alerts import RAISED_RULE
from monitoring.models import AlertRule

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPERATOR_DOCS = [DOCS / "api.md", *(DOCS / "runbooks").glob("*.md")]


def _text(path: Path) -> str:
    return path.read_text()


@pytest.mark.parametrize("path", OPERATOR_DOCS, ids=lambda p: p.name)
def test_every_management_command_named_exists(path):
    known = set(get_commands())
    named = set(re.findall(r"manage\.py ([a-z_]+)", _text(path)))
    assert named - known == set(), f"{path.name} names commands that do not exist"


def test_admin_actions_named_in_the_runbooks_exist(db):
    from django.contrib.auth.models import User

    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    descriptions = {
        str(description)
        for model_admin in admin.site._registry.values()
        for _, _, description in model_admin.get_actions(request).values()
    }
    text = " ".join(_text(DOCS / "runbooks" / name) for name in ("incident-response.md", "security.md", "DEPLOYMENT.md"))
    named = {" ".join(phrase.split()) for phrase in re.findall(r"\*\*?([A-Z][^*]*selected[^*]*)\*\*?", text)}
    assert named, "the runbooks name no admin action"
    unknown = {phrase for phrase in named if not any(d.startswith(phrase) for d in descriptions)}
    assert unknown == set(), f"actions not in the admin: {unknown}"


def test_incident_runbook_names_every_default_alert_rule(db):
    text = _text(DOCS / "runbooks" / "incident-response.md")
    names = set(AlertRule.objects.values_list("name", flat=True)) | {RAISED_RULE}
    assert {name for name in names if f'"{name}"' not in text} == set()


def test_api_doc_lists_every_endpoint_of_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    text = _text(DOCS / "api.md")
    for path in schema["paths"]:
        documented = re.sub(r"\{[^}]+\}", lambda m: f"<{m.group(0)[1:-1].upper()}>", path)
        assert path in text or documented.split("<")[0] in text, f"{path} is not in docs/api.md"


def test_every_test_and_benchmark_named_in_features_exists():
    root = DOCS.parent
    text = _text(DOCS / "features.md")
    tests = re.findall(r"(tests/[\w/]+\.py)::(\w+)", text)
    benches = set(re.findall(r"(?<![\w/])(bench/\w+\.py)", text))  # not tests/bench/... (a test file)
    assert len(tests) > 50 and benches
    for path, name in tests:
        assert (root / path).exists(), path
        assert re.search(rf"^(async )?def {name}\(", (root / path).read_text(), re.M), f"{path}::{name}"
    for path in benches:
        assert (root / path).exists(), path
