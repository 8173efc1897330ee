"""Errors a trader or API client can be shown: `message` is one plain sentence, `code` is stable."""

from __future__ import annotations


class TradingError(Exception):
    code = "trading_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class InvalidInput(TradingError, ValueError):
    code = "invalid_input"


class NotFound(TradingError):
    code = "not_found"


class RiskLimitExceeded(TradingError):
    code = "risk_limit"


class KillSwitchOn(TradingError):
    code = "kill_switch_on"


class InsufficientBalance(TradingError):
    code = "insufficient_balance"


class Conflict(TradingError):
    """The thing is busy or in a state that does not allow the request (e.g. an exit already in flight)."""

    code = "conflict"


class NoPrice(TradingError):
    code = "no_price"


class WalletError(TradingError):
    code = "wallet_error"


class VenueError(TradingError):
    """A venue or chain refused or failed. `transient` says whether trying again later may work."""

    code = "venue_error"

    def __init__(self, message: str, code: str | None = None, *, transient: bool = False):
        super().__init__(message, code)
        self.transient = transient


class TokenRisk(TradingError):
    """A token's safety card has critical findings: refused by the trader's setting ("token_refused"), or not yet
    accepted by the trader ("token_risk_unaccepted", with the findings to accept in `to_accept`)."""

    code = "token_refused"

    def __init__(self, message: str, code: str | None = None, *, to_accept: tuple[str, ...] = ()):
        super().__init__(message, code)
        self.to_accept = to_accept
