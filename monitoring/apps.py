from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring import signals  # noqa: F401 - connects the Celery signal handlers
        from monitoring.subscribers import subscribe

        subscribe()
