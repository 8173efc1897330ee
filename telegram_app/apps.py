from django.apps import AppConfig


class TelegramAppConfig(AppConfig):
    name = "telegram_app"
    verbose_name = "Telegram"

    def ready(self):
        from jarvis.events import DOMAIN_KINDS, event_subscribe
        from telegram_app import notify

        event_subscribe(notify.on_trading_event, kinds=DOMAIN_KINDS)
        event_subscribe(notify.on_alert, kinds=("alert.changed",))
