"""Errors of the backups app. ``message`` is one plain sentence an operator can act on."""

from __future__ import annotations


class BackupError(Exception):
    def __init__(self, message: str, code: str = "backup_failed"):
        super().__init__(message)
        self.message = message
        self.code = code


class BackupRefused(BackupError):
    """A restore or verification that would be unsafe (unverified, corrupt, not found) and was not forced."""

    def __init__(self, message: str, code: str = "backup_refused"):
        super().__init__(message, code)
