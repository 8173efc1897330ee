"""The safety check before a buy: the token's critical findings against the trader's setting and acceptance."""

from __future__ import annotations

from trading.errors import TokenRisk
from trading.models import Trader
from trading.safety import TokenSafety, safety_decision, token_safety
from trading.services.accounts import trading_settings_get
from trading.services.amounts import mint_validate

RISK_NAMES = {
    "freeze_authority": "a freeze authority",
    "permanent_delegate": "a permanent delegate",
    "non_transferable": "non-transferable",
    "not_sellable": "cannot be sold",
}


def risk_names(codes) -> str:
    return ", ".join(RISK_NAMES.get(c, c) for c in codes)


def token_safety_verdict(*, trader: Trader, safety: TokenSafety, accepted: tuple[str, ...] = ()) -> TokenRisk | None:
    """The refusal a buy of this token meets now (None: it may go ahead)."""
    policy = trading_settings_get(trader=trader).risky_tokens
    refused, to_accept = safety_decision(safety=safety, policy=policy, accepted=tuple(accepted))
    if refused:
        return TokenRisk(f"This token is refused by your safety setting: {risk_names(refused)}. Change it in /settings "
                         "if you mean to trade such tokens.", "token_refused")
    if to_accept:
        return TokenRisk(f"This token has critical risks ({risk_names(to_accept)}); accept them explicitly to buy.",
                         "token_risk_unaccepted", to_accept=to_accept)
    return None


def token_safety_check(*, trader: Trader, mint: str, accepted: tuple[str, ...] = ()) -> TokenSafety:
    """Raise TokenRisk unless a buy of `mint` may go ahead: no critical finding the trader's setting refuses, and every
    other critical finding in `accepted`. Returns the card it decided on."""
    safety = token_safety(mint=mint_validate(mint))
    verdict = token_safety_verdict(trader=trader, safety=safety, accepted=accepted)
    if verdict is not None:
        raise verdict
    return safety
