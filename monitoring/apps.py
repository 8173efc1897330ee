from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring import notifiers, signals  # noqa: F401 - connects the Celery signal handlers
        from monitoring.trading_events import subscribe
        from monitoring.webhook import webhook_notifier

        notifiers.register(webhook_notifier)
        subscribe()
