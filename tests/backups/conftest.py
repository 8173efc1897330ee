"""Every backup test runs with backups encrypted at rest, as a production desk does."""

from __future__ import annotations

import pytest

from backups import crypto


@pytest.fixture(autouse=True)
def backup_encryption_key(settings):
    settings.BACKUP_ENCRYPTION_KEY = crypto.key_new()
    return settings.BACKUP_ENCRYPTION_KEY
