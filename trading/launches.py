"""A bags.fm launch's bonding-curve progress, read from its Meteora dynamic bonding curve accounts on chain.

bags.fm launches on Meteora's dynamic bonding curve (DBC): the launch feed names each launch's pool (`dbcPoolKey`, a
`VirtualPool` account) and its configuration (`dbcConfigKey`, a `PoolConfig` account). The curve migrates once the
pool's `quote_reserve` reaches the configuration's `migration_quote_threshold`, so their ratio is how full the curve
is. Both accounts are bytemuck (repr C) layouts of the DBC program; the offsets below are summed from the program's IDL
as the bags.fm SDK ships it (bagsfm/bags-sdk src/idl/dynamic-bonding-curve/idl.json: the `VirtualPool` and `PoolConfig`
types, 8-byte Anchor discriminators first). One getMultipleAccounts call reads every watched curve.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from decimal import Decimal

from solders.pubkey import Pubkey

from trading.chain import rpc_client
from trading.chain.rpc import RpcError

log = logging.getLogger(__name__)

DBC_PROGRAM = "dbcij3LWUppWqq96dh6gJWwBifmcGfLSB5D4DuSMaqN"
VIRTUAL_POOL_DISCRIMINATOR = bytes([213, 224, 5, 209, 98, 69, 119, 92])
POOL_CONFIG_DISCRIMINATOR = bytes([26, 108, 14, 123, 116, 230, 129, 43])
VIRTUAL_POOL_SIZE = 424
POOL_CONFIG_SIZE = 1048
POOL_CONFIG_AT = 72  # VirtualPool.config (after the discriminator and the 64-byte volatility tracker)
POOL_BASE_MINT_AT = 136  # VirtualPool.base_mint
POOL_QUOTE_RESERVE_AT = 240  # VirtualPool.quote_reserve (u64)
POOL_IS_MIGRATED_AT = 305  # VirtualPool.is_migrated (u8)
CONFIG_THRESHOLD_AT = 264  # PoolConfig.migration_quote_threshold (u64)
BATCH = 100  # keys per getMultipleAccounts call


@dataclass(frozen=True)
class CurveKeys:
    mint: str
    pool: str
    config: str


def curve_progress_decode(*, keys: CurveKeys, pool, config) -> Decimal | None:
    """How full the curve is, in percent (0-100, two places), from the (owner, data) of its two accounts; None when
    either is missing or not the DBC program's account of that type for this mint."""
    if pool is None or config is None or pool[0] != DBC_PROGRAM or config[0] != DBC_PROGRAM:
        return None
    pool_data, config_data = pool[1], config[1]
    if (len(pool_data) < VIRTUAL_POOL_SIZE or pool_data[:8] != VIRTUAL_POOL_DISCRIMINATOR
            or len(config_data) < POOL_CONFIG_SIZE or config_data[:8] != POOL_CONFIG_DISCRIMINATOR):
        return None
    if (bytes(Pubkey.from_string(keys.config)) != pool_data[POOL_CONFIG_AT:POOL_CONFIG_AT + 32]
            or bytes(Pubkey.from_string(keys.mint)) != pool_data[POOL_BASE_MINT_AT:POOL_BASE_MINT_AT + 32]):
        return None
    if pool_data[POOL_IS_MIGRATED_AT]:
        return Decimal(100)
    (reserve,) = struct.unpack_from("<Q", pool_data, POOL_QUOTE_RESERVE_AT)
    (threshold,) = struct.unpack_from("<Q", config_data, CONFIG_THRESHOLD_AT)
    if threshold == 0:
        return None
    return min(Decimal(100), Decimal(reserve * 100) / threshold).quantize(Decimal("0.01"))


def curves_progress(curves: list[CurveKeys]) -> dict[str, Decimal]:
    """mint -> percent of its curve filled, for the curves whose accounts could be read (the rest are left out: no
    data, never zero). An RPC failure is logged and answers nothing."""
    out: dict[str, Decimal] = {}
    for start in range(0, len(curves), BATCH // 2):
        chunk = curves[start:start + BATCH // 2]
        try:
            found = rpc_client().accounts([key for c in chunk for key in (c.pool, c.config)])
        except (RpcError, ValueError) as exc:  # progress is informative: the launch states go on without it
            log.warning("bonding-curve accounts could not be read: %s", type(exc).__name__)
            return out
        for i, keys in enumerate(chunk):
            progress = curve_progress_decode(keys=keys, pool=found[2 * i], config=found[2 * i + 1])
            if progress is not None:
                out[keys.mint] = progress
    return out
