from django.db import models


class Heartbeat(models.Model):
    """The last sign of life of one component (a worker queue, beat, the bot, the price feed)."""

    component = models.CharField(max_length=64, unique=True)
    last_seen = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["component"]

    def __str__(self) -> str:
        return f"{self.component} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"
