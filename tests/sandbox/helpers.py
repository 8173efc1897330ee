"""What a client of the sandbox does with a venue's swap transaction, written with solders only."""

from __future__ import annotations

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

SOL = "So11111111111111111111111111111111111111112"


def sign_as(trader: Keypair, raw: bytes) -> VersionedTransaction:
    """Fill the trader's slot of a possibly partially signed transaction and keep the other signatures."""
    tx = VersionedTransaction.from_bytes(raw)
    message = tx.message
    signers = list(message.account_keys[: message.header.num_required_signatures])
    signatures = list(tx.signatures)
    signatures[signers.index(trader.pubkey())] = trader.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, signatures)


def jupiter_build(sandbox, http, trader: Keypair, *, input_mint: str, output_mint: str, amount: int,
                  slippage_bps: int = 100, level: str = "high") -> tuple[dict, bytes]:
    """Jupiter Swap V2 `/build` and the unsigned transaction the desk's client assembles from its instructions."""
    from trading.venues.base import FeePolicy
    from trading.venues.jupiter import transaction_from_build

    answer = http.get(f"{sandbox.jupiter_url}/swap/v2/build", headers={"x-api-key": sandbox.jupiter_api_key}, params={
        "inputMint": input_mint, "outputMint": output_mint, "amount": str(amount), "taker": str(trader.pubkey()),
        "slippageBps": slippage_bps, "computeUnitPricePercentile": level})
    assert answer.status_code == 200, answer.text
    raw, _, _ = transaction_from_build(answer.json(), taker=str(trader.pubkey()),
                                      fee=FeePolicy(priority_level="high", max_lamports=10**9))
    return answer.json(), raw
