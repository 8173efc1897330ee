from django.apps import AppConfig


class TelegramAppConfig(AppConfig):
    name = "telegram_app"
    verbose_name = "Telegram"

    def ready(self):
        from monitoring import notifiers
        from telegram_app import notify
        from trading.events import event_subscribe

        event_subscribe(notify.on_trading_event)
        notifiers.register(notify.on_alert)
