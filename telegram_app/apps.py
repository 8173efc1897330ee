from django.apps import AppConfig


class TelegramAppConfig(AppConfig):
    name = "telegram_app"
    verbose_name = "Telegram"
