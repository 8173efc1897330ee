"""The token holder reads of the sandbox RPC: getTokenLargestAccounts and getTokenSupply over the sandbox chain.

Shapes from Solana's RPC docs (docs/rpc/http/getTokenLargestAccounts, getTokenSupply): an RpcResponse whose value is
up to 20 {address, amount, decimals, uiAmount, uiAmountString}, largest first; and a UiTokenAmount for the supply.
"""

from __future__ import annotations

from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount

from sandbox.chain import ACCOUNT_SIZE, MINT_SIZE, Chain, ChainError, token_kind
from sandbox.wire import token_amount

LARGEST_ACCOUNTS = 20


def _mint(chain: Chain, address: Pubkey):
    acc = chain.account(address)
    if token_kind(acc) != "mint":
        raise ChainError(-32602, "Invalid param: not a Token mint")
    return acc, Mint.from_bytes(bytes(acc.data[:MINT_SIZE]))


def token_supply(chain: Chain, address: Pubkey) -> dict:
    _, mint = _mint(chain, address)
    return token_amount(mint.supply, mint.decimals)


def token_largest_accounts(chain: Chain, address: Pubkey) -> list[dict]:
    acc, mint = _mint(chain, address)
    with chain.lock:
        found = chain.svm.get_program_accounts(acc.owner)
    key = bytes(address)
    holdings = [(TokenAccount.from_bytes(bytes(a.data[:ACCOUNT_SIZE])).amount, str(addr)) for addr, a in found
                if token_kind(a) == "account" and bytes(a.data[:32]) == key]
    holdings.sort(key=lambda h: (-h[0], h[1]))
    return [{"address": addr, **token_amount(amount, mint.decimals)} for amount, addr in holdings[:LARGEST_ACCOUNTS]]
