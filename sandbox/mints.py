"""Creating a pool's mint and token account on the sandbox chain.

Plain mints (SPL Token, or Token-2022 without extensions) are written straight into LiteSVM's accounts. A Token-2022 mint
with a transfer fee is created the way a launchpad would: a real transaction (create account, InitializeTransferFeeConfig,
InitializeMint2, the pool's associated token account, MintTo), so every later transfer withholds the fee on chain.
"""

from __future__ import annotations

from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    initialize_transfer_fee_config,
    mint_to,
)
from spl.token.instructions import models as token_models

from sandbox.chain import Chain

# A Token-2022 mint with the TransferFeeConfig extension: the base mint padded to an account's 165 bytes, the account
# type byte, then one TLV entry (2 + 2 bytes of header, 108 bytes of config).
TRANSFER_FEE_MINT_SIZE = 165 + 1 + 4 + 108
MAX_TRANSFER_FEE = 2**63 - 1  # no cap: the fee is always the basis points


def transfer_fee(amount: int, fee_bps: int) -> int:
    """What Token-2022 withholds from a transfer of `amount`: the basis points, rounded up."""
    return (amount * fee_bps + 9_999) // 10_000 if fee_bps else 0


def create_pool_mint(chain: Chain, *, mint_key: Keypair, authority: Keypair, program: Pubkey, decimals: int,
                     supply: int, transfer_fee_bps: int) -> Pubkey:
    """Create the mint with its whole supply in the authority's associated token account; returns that account."""
    mint = mint_key.pubkey()
    vault = get_associated_token_address(authority.pubkey(), mint, program)
    if not transfer_fee_bps:
        chain.create_mint(mint, decimals=decimals, program=program, supply=supply)
        chain.create_token_account(vault, mint=mint, owner=authority.pubkey(), amount=supply, program=program)
        return vault
    owner = authority.pubkey()
    ixs = [
        create_account(CreateAccountParams(
            from_pubkey=owner, to_pubkey=mint, space=TRANSFER_FEE_MINT_SIZE, owner=program,
            lamports=chain.svm.minimum_balance_for_rent_exemption(TRANSFER_FEE_MINT_SIZE),
        )),
        initialize_transfer_fee_config(token_models.InitializeTransferFeeConfigParams(
            program_id=program, mint=mint, transfer_fee_config_authority=None, withdraw_withheld_authority=owner,
            transfer_fee_basis_points=transfer_fee_bps, maximum_fee=MAX_TRANSFER_FEE,
        )),
        initialize_mint2(token_models.InitializeMint2Params(
            program_id=program, mint=mint, decimals=decimals, mint_authority=owner, freeze_authority=None,
        )),
        create_idempotent_associated_token_account(owner, owner, mint, program),
        mint_to(token_models.MintToParams(program_id=program, mint=mint, dest=vault, mint_authority=owner, amount=supply)),
    ]
    with chain.lock:
        tx = VersionedTransaction(MessageV0.try_compile(owner, ixs, [], chain.svm.latest_blockhash()), [authority, mint_key])
        result = chain.svm.send_transaction(tx)
    if isinstance(result, FailedTransactionMetadata):
        raise RuntimeError(f"creating the mint {mint} failed: {result.err()}")
    return vault
