import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import RequestFactory


@pytest.fixture
def groups(db):
    call_command("setup_operator_groups")
    call_command("setup_operator_groups")  # idempotent
    return {group.name: group for group in Group.objects.all()}


def _staff(username, group):
    user = get_user_model().objects.create_user(username=username, password="x" * 16, is_staff=True)
    user.groups.add(group)
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def test_viewer_sees_every_admin_page_and_can_change_nothing(groups):
    viewer = _staff("viewer-1", groups["viewer"])
    request = RequestFactory().get("/admin/")
    request.user = viewer
    registered = [(model, model_admin) for model, model_admin in admin.site._registry.items()
                  if model._meta.app_label in {"trading", "telegram_app", "monitoring", "backups", "django_celery_beat"}]
    assert registered, "no project models in the admin"
    for model, model_admin in registered:
        assert model_admin.has_view_permission(request), model
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
        actions = model_admin.get_actions(request)
        assert not actions, f"{model}: a viewer gets actions {sorted(actions)}"


def test_operator_may_steer_schedules_but_not_delete(groups):
    operator = _staff("op-1", groups["operator"])
    assert operator.has_perm("django_celery_beat.change_periodictask")
    assert not operator.has_perm("django_celery_beat.delete_periodictask")
    assert not operator.has_perm("auth.change_user")
