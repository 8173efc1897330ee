"""Admin site wiring: the index page carries the desk's operations box (mode, Flower, health)."""

from django.conf import settings
from django.contrib import admin

admin.site.site_header = "Jarvis desk"
admin.site.site_title = "Jarvis"
admin.site.index_title = "Operations"

_original_each_context = admin.site.each_context


def _each_context(request):
    context = _original_each_context(request)
    context["flower_url"] = settings.FLOWER_URL
    context["desk_mode"] = settings.TRADING_MODE
    return context


admin.site.each_context = _each_context


# django-celery-beat's actions (enable, disable, toggle, run now) carry no permission check of their
# own, so a read-only viewer could run any task. They need the change permission here.
from django_celery_beat.admin import PeriodicTaskAdmin  # noqa: E402
from django_celery_beat.models import PeriodicTask  # noqa: E402


class GuardedPeriodicTaskAdmin(PeriodicTaskAdmin):
    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            for name in ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks"):
                actions.pop(name, None)
        return actions


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, GuardedPeriodicTaskAdmin)
