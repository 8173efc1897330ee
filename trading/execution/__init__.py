"""On-chain execution: the landing loop (`onchain`) and reconciliation after restarts (`reconcile`)."""
