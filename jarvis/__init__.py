"""The Jarvis Django project: settings, the Celery app, URL root, WSGI/ASGI. No business logic lives here."""

from jarvis.celery import app as celery_app

__all__ = ("celery_app",)
