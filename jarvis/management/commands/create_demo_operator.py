"""Create the local demo operator account once and print its password once."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the superuser 'operator' with a random password (printed once) if it does not exist."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="operator")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(
                f"Operator account '{username}' exists (password shown on first run; reset with "
                f"`manage.py changepassword {username}`)."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Operator login (shown once): {username} / {password}"))
