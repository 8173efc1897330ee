from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring import signals  # noqa: F401 - connects the Celery signal handlers
        from monitoring.subscribers import subscribe

        subscribe()
        try:
            from trading.ratelimit import budget_gate_set
        except ImportError:  # trading not installed: nothing asks
            return
        from monitoring.budgets import budget_refusal

        budget_gate_set(budget_refusal)
