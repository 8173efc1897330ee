import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jarvis.settings")

from jarvis.config import exit_on_config_error  # noqa: E402

exit_on_config_error()

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
