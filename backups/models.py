"""The catalogue of backups: one row per backup attempt, whatever its outcome."""

from __future__ import annotations

from django.db import models


class BackupRecord(models.Model):
    class Kind(models.TextChoices):
        HOURLY = "hourly", "hourly"
        DAILY = "daily", "daily"
        MANUAL = "manual", "manual"
        SAFETY = "safety", "safety (taken before a restore)"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        PRUNED = "pruned", "pruned (file deleted by retention)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    engine = models.CharField(max_length=16, help_text="postgresql or sqlite")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    storage = models.CharField(max_length=16, help_text="the storage backend that holds the file")
    location = models.CharField(max_length=512, blank=True, help_text="the file's name inside its storage")
    manifest = models.JSONField(default=dict, blank=True, help_text="row counts and checksums of the money tables")
    verified_at = models.DateTimeField(null=True, blank=True)
    verify_error = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        permissions = [("run_backup", "Can start and verify backups from the admin")]
        indexes = [models.Index(fields=["status", "kind", "-started_at"], name="backups_status_kind_started")]

    def __str__(self) -> str:
        return f"backup {self.pk} ({self.kind}, {self.status})"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None and not self.verify_error
