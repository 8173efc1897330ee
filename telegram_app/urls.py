from django.urls import path

from telegram_app.views import webhook

urlpatterns = [path("<str:secret>/", webhook, name="telegram-webhook")]
