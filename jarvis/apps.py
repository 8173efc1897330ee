from django.apps import AppConfig


class JarvisConfig(AppConfig):
    name = "jarvis"
    verbose_name = "Jarvis desk"
