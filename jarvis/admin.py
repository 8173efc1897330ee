"""Admin site wiring: the front page shows the desk at a glance (health, queues, positions, PnL, alerts) and
carries the one global kill switch toggle; django-celery-beat's actions get a permission check."""

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from jarvis.charts import svg_chart
from jarvis.selectors import desk_overview, desk_week_series
from trading.errors import TradingError
from trading.models.choices import LAMPORTS_PER_SOL
from trading.services import kill_switch_set

admin.site.site_header = "Jarvis desk"
admin.site.site_title = "Jarvis"
admin.site.index_title = "Operations"

_original_each_context = admin.site.each_context
_original_index = admin.site.index
_original_get_urls = admin.site.get_urls


def _each_context(request):
    context = _original_each_context(request)
    context["flower_url"] = settings.FLOWER_URL
    context["desk_mode"] = settings.TRADING_MODE
    return context


def sol(lamports: int | None) -> str:
    """Lamports as SOL for people (display only; money stays integer everywhere else)."""
    if lamports is None:
        return "—"
    sign = "−" if lamports < 0 else ""
    return f"{sign}{abs(lamports) / LAMPORTS_PER_SOL:,.4f} SOL"


def _ms(value: float) -> str:
    return f"{value / 1000:,.1f} s" if value >= 1000 else f"{value:,.0f} ms"


def week_charts(series: dict) -> list:
    """The front page's three charts of the last 7 days: realised PnL, volume, exit latency (inline SVG)."""
    labels = [day.strftime("%a %d") for day in series["days"]]

    def sol_axis(lamports: float) -> str:
        return sol(int(lamports)).replace(" SOL", "")

    return [
        {"id": "chart-pnl", "title": "Realised PnL per day (SOL)",
         "svg": svg_chart(chart_id="chart-pnl", title="Realised PnL per day (SOL)", labels=labels,
                          values=series["pnl_lamports"], fmt=sol_axis)},
        {"id": "chart-volume", "title": "Volume per day (SOL)",
         "svg": svg_chart(chart_id="chart-volume", title="Volume per day (SOL)", labels=labels,
                          values=series["volume_lamports"], fmt=sol_axis)},
        {"id": "chart-exit-latency", "title": "Exit latency per day (median, trigger to order sent)",
         "svg": svg_chart(chart_id="chart-exit-latency", title="Exit latency per day (median, trigger to order sent)",
                          labels=labels, values=series["exit_latency_ms"], fmt=_ms, kind="line")},
    ]


def _index(request, extra_context=None):
    desk = desk_overview()
    desk["charts"] = week_charts(desk_week_series())
    pnl = desk["pnl"]
    desk["pnl_text"] = {"realised": sol(pnl["realised_lamports"]), "unrealised": sol(pnl["unrealised_lamports"])}
    context = {
        **(extra_context or {}),
        "desk": desk,
        "can_toggle_kill_switch": request.user.has_perm("trading.change_killswitch"),
    }
    return _original_index(request, extra_context=context)


def kill_switch_toggle_view(request):
    """POST enabled=on|off (+ reason): turn the global kill switch on or off as the logged-in operator."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not request.user.has_perm("trading.change_killswitch"):
        messages.error(request, "You may not change the kill switch (operators may).")
        return HttpResponseRedirect(reverse("admin:index"))
    wanted = request.POST.get("enabled")
    if wanted not in ("on", "off"):
        messages.error(request, "Say whether the kill switch goes on or off.")
        return HttpResponseRedirect(reverse("admin:index"))
    try:
        kill_switch_set(enabled=wanted == "on", actor=request.user.get_username(), reason=request.POST.get("reason", ""))
    except TradingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Kill switch ON: new buys are refused; exits keep running." if wanted == "on"
                         else "Kill switch OFF: buying is allowed again.")
    return HttpResponseRedirect(reverse("admin:index"))


def _get_urls():
    extra = [path("desk/kill-switch/", admin.site.admin_view(kill_switch_toggle_view), name="desk_kill_switch")]
    return extra + _original_get_urls()


admin.site.each_context = _each_context
admin.site.index = _index
admin.site.get_urls = _get_urls


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
