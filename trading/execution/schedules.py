"""Beat entries of execution. setup_periodic_tasks reads only trading/schedules.py, which includes these."""

PERIODIC_TASKS = [
    {
        "name": "reconcile orders",
        "task": "trading.reconcile_orders",
        "every_seconds": 15,
        "description": "Resolve signed/submitted orders by signature status; re-queue unresolved and stale orders.",
    },
    {
        "name": "reconcile wallet balances",
        "task": "trading.reconcile_orders",
        "every_seconds": 300,
        "kwargs": {"wallets": True},
        "description": "Also compare wallets' on-chain token balances with open positions (mismatches are logged).",
    },
]
