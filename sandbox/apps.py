from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The local stand-ins as a Django app: only their management commands (`sandbox`, `telegram_standin`, `botshell`)
    and their processes for `make run`. Product apps never import this package; a live image leaves it out."""

    name = "sandbox"
    verbose_name = "Sandbox (local stand-ins)"
