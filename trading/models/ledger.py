"""Paper money: each trader's simulated SOL balance = start + realised PnL - withdrawn - cost of open paper positions."""

from django.db import models
from django.db.models import Q

from trading.models.accounts import Trader


class PaperLedger(models.Model):
    trader = models.OneToOneField(Trader, on_delete=models.CASCADE, related_name="paper_ledger")
    start_balance_lamports = models.BigIntegerField()
    # Running total of realised PnL of paper sells, kept by the fill, so the balance never sums all history.
    realised_pnl_lamports = models.BigIntegerField(default=0)
    # Paper SOL that left by withdrawals (SOL sent, the cost of tokens sent, and their fees), kept by the fill.
    withdrawn_lamports = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(start_balance_lamports__gte=0), name="paper_start_balance_non_negative")
        ]

    def __str__(self) -> str:
        return f"paper ledger of {self.trader}"
