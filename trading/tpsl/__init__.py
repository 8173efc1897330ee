"""TP/SL engine: exit plans, the pure exit decision, and the sweep that enforces them."""
