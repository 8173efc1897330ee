"""Domain events: written in the transaction that caused them, delivered to subscribers on commit."""

from django.db import models
from django.db.models import Q

from trading.models.accounts import Trader


class DomainEvent(models.Model):
    kind = models.CharField(max_length=40, db_index=True)
    trader = models.ForeignKey(Trader, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_at"], condition=Q(delivered_at__isnull=True), name="event_undelivered")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
