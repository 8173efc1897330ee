"""Venues behind one interface: paper (simulated fills, no network client) here; bags.fm and Jupiter for
sandbox and live, routed by trading.venues.router. Which one an order uses follows from its mode alone."""
