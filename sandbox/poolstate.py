"""The sandbox AMM's pool state accounts: the price of each pool, on chain, where an account subscription sees it.

A real constant-product pool keeps its reserves on chain, and a price stream watches them. The sandbox pools price
around the simulator's price on virtual reserves (sandbox.pools); this module writes those reserves, with the pool's
real balances, into one account per pool, so every simulator move and every landed swap changes account data that
`accountSubscribe` reports (sandbox.ws).

Address: the program-derived address of seeds [b"pool", mint] under POOL_PROGRAM. Layout (little-endian, 81 bytes):
discriminator b"JRVSPOOL" (8) | mint (32) | decimals u8 | virtual SOL reserve u64 (lamports) | virtual token reserve
u128 (base units) | real SOL u64 (lamports the pool's authority holds) | real token u64 (its vault's amount).
Price, SOL per whole token:
virtual_sol * 10**decimals / (virtual_token * 10**9).
"""

from __future__ import annotations

import hashlib
import struct
from decimal import Decimal

from solders.account import Account
from solders.pubkey import Pubkey

from sandbox.pools import LAMPORTS_PER_SOL, Pools

POOL_PROGRAM = Pubkey(hashlib.sha256(b"jarvis-sandbox-amm").digest())
DISCRIMINATOR = b"JRVSPOOL"
LAYOUT = struct.Struct("<8s32sBQ16sQQ")


def pool_state_address(mint: str | Pubkey) -> Pubkey:
    mint = mint if isinstance(mint, Pubkey) else Pubkey.from_string(mint)
    return Pubkey.find_program_address([b"pool", bytes(mint)], POOL_PROGRAM)[0]


def pool_state_bytes(*, mint: Pubkey, decimals: int, price: Decimal, liquidity_lamports: int, real_sol: int,
                     real_token: int) -> bytes:
    lamports_per_unit = price * LAMPORTS_PER_SOL / (Decimal(10) ** decimals)
    virtual_token = int(Decimal(liquidity_lamports) / lamports_per_unit)
    return LAYOUT.pack(DISCRIMINATOR, bytes(mint), decimals, liquidity_lamports, virtual_token.to_bytes(16, "little"),
                       real_sol, real_token)


def pool_states_sync(pools: Pools, written: dict[str, bytes]) -> int:
    """Write the state account of every pool whose price or balances changed since `written` (mint -> data, kept by
    the caller); returns how many changed."""
    pools.ensure()
    chain = pools.chain
    changed = 0
    for token in pools.market.tokens():
        pool = pools.pool(token.mint)
        vault = chain.token_account(pool.vault)
        data = pool_state_bytes(mint=pool.mint, decimals=token.decimals, price=token.price,
                                liquidity_lamports=token.liquidity_lamports,
                                real_sol=chain.sol_balance(pool.authority.pubkey()),
                                real_token=vault.amount if vault is not None else 0)
        if written.get(token.mint) == data:
            continue
        with chain.lock:
            rent = chain.svm.minimum_balance_for_rent_exemption(len(data))
            chain.svm.set_account(pool_state_address(pool.mint),
                                  Account(lamports=rent, data=data, owner=POOL_PROGRAM, executable=False))
        written[token.mint] = data
        changed += 1
    return changed
