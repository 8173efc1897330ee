from decimal import Decimal

from django.db import migrations

DEFAULT_RULES = [
    # name, metric, target, threshold, window_minutes, cooldown_minutes
    ("A component is down", "component_down", "", Decimal("0"), 15, 30),
    ("Prices are stale", "prices_stale", "", Decimal("60"), 15, 30),
    ("Exit orders failing", "exit_failures", "", Decimal("1"), 15, 30),
    ("Task error rate", "error_rate", "", Decimal("20"), 15, 60),
    ("Queue backlog", "queue_backlog", "", Decimal("500"), 15, 30),
    ("Worker memory", "worker_memory", "", Decimal("250"), 15, 60),
    ("Provider budget spent", "budget_spent", "", Decimal("80"), 15, 1440),
]


def create(apps, schema_editor):
    AlertRule = apps.get_model("monitoring", "AlertRule")
    for name, metric, target, threshold, window, cooldown in DEFAULT_RULES:
        AlertRule.objects.get_or_create(
            name=name,
            defaults={"metric": metric, "target": target, "threshold": threshold, "window_minutes": window,
                      "cooldown_minutes": cooldown},
        )


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_alerts_budgets_uptime")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
