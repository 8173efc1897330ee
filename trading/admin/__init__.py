"""Trading in the admin. Wallets show public keys only; money history (positions, orders, exit plans, events,
ledgers) is read-only; operators act on it through actions that call services (close a position, retry a
failed order) and steer the desk through settings, risk limits and the kill switch.

One module per group of models: `history` (traders, wallets, tokens, positions, orders, exit plans, events, paper
ledgers), `standing` (limit orders, DCA plans, launch watches), `controls` (trading settings, risk limits, kill
switches); `common` holds what they share."""

from trading.admin import controls, history, standing  # noqa: F401  (each registers its models)
