"""Creating a pool's mint, its holders and its metadata on the sandbox chain.

Plain mints (SPL Token, or Token-2022 without extensions, no freeze authority) are written straight into LiteSVM's
accounts, holders included. A mint with a risk (a transfer fee, a permanent delegate, a freeze authority) is created the
way a launchpad would: real transactions (create account, the extensions' initialize instructions, InitializeMint2, the
associated token accounts, MintTo, then the mint authority revoked), so the programs enforce them on every later transfer.

Every mint gets a Metaplex metadata account (name, symbol, uri) at its PDA. The Token Metadata program is not loaded in
LiteSVM; the account is written with the program's Borsh layout (mpl-token-metadata `Metadata`), which is all a reader
sees of it.
"""

from __future__ import annotations

import hashlib
import struct

from solders.account import Account
from solders.instruction import AccountMeta, Instruction
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
    AuthorityType,
    mint_to,
    set_authority,
)
from spl.token.instructions import models as token_models

from sandbox.chain import Chain
from sandbox.simulator import TOKEN_2022, SimToken

# A Token-2022 mint with the TransferFeeConfig extension: the base mint padded to an account's 165 bytes, the account
# type byte, then one TLV entry (2 + 2 bytes of header, 108 bytes of config).
TRANSFER_FEE_MINT_SIZE = 165 + 1 + 4 + 108
PERMANENT_DELEGATE_SIZE = 4 + 32
MINT_SIZE = 82
MAX_TRANSFER_FEE = 2**63 - 1  # no cap: the fee is always the basis points
INITIALIZE_PERMANENT_DELEGATE = 35  # spl-token-2022 TokenInstruction::InitializePermanentDelegate { delegate }
METADATA_PROGRAM = Pubkey.from_string("metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s")
METADATA_KEY_V1 = 4  # mpl-token-metadata Key::MetadataV1
HOLDERS_PER_TRANSACTION = 5


def metadata_address(mint: Pubkey) -> Pubkey:
    """The Metaplex metadata PDA of a mint: seeds ["metadata", program, mint]."""
    return Pubkey.find_program_address([b"metadata", bytes(METADATA_PROGRAM), bytes(mint)], METADATA_PROGRAM)[0]


def _borsh_str(text: str, width: int) -> bytes:
    raw = text.encode()[:width].ljust(width, b"\0")  # the program pads name, symbol and uri to their maximum length
    return struct.pack("<I", len(raw)) + raw


def metadata_bytes(*, mint: Pubkey, update_authority: Pubkey, name: str, symbol: str, uri: str) -> bytes:
    """mpl-token-metadata `Metadata`: key, update authority, mint, Data {name(32), symbol(10), uri(200), seller fee,
    creators: None}, primary sale happened, is mutable, edition nonce None, token standard Fungible, collection None,
    uses None, collection details None, programmable config None."""
    return (bytes([METADATA_KEY_V1]) + bytes(update_authority) + bytes(mint) + _borsh_str(name, 32)
            + _borsh_str(symbol, 10) + _borsh_str(uri, 200) + struct.pack("<H", 0) + b"\0" + b"\0" + b"\1"
            + b"\0" + b"\1\2" + b"\0" + b"\0" + b"\0" + b"\0")


def holder_key(mint: Pubkey, index: int) -> Pubkey:
    return Keypair.from_seed(hashlib.sha256(f"jarvis-sandbox-holder:{mint}:{index}".encode()).digest()).pubkey()


def holder_amounts(token: SimToken, supply: int) -> list[int]:
    return [supply * bps // 10_000 for bps in token.holders_bps]


def transfer_fee(amount: int, fee_bps: int) -> int:
    """What Token-2022 withholds from a transfer of `amount`: the basis points, rounded up."""
    return (amount * fee_bps + 9_999) // 10_000 if fee_bps else 0


def create_pool_mint(chain: Chain, *, mint_key: Keypair, authority: Keypair, token: SimToken, supply: int) -> Pubkey:
    """Create the mint, its holders (the token's `holders_bps` of the supply) and its metadata; the pool's share is in
    the authority's associated token account, which is returned."""
    mint, program, owner = mint_key.pubkey(), Pubkey.from_string(token.token_program), authority.pubkey()
    vault = get_associated_token_address(owner, mint, program)
    holders = [(holder_key(mint, i), amount) for i, amount in enumerate(holder_amounts(token, supply))]
    pool_share = supply - sum(amount for _, amount in holders)
    if not (token.transfer_fee_bps or token.permanent_delegate or token.freeze_authority):
        chain.create_mint(mint, decimals=token.decimals, program=program, supply=supply)
        chain.create_token_account(vault, mint=mint, owner=owner, amount=pool_share, program=program)
        for holder, amount in holders:
            chain.create_token_account(get_associated_token_address(holder, mint, program), mint=mint, owner=holder,
                                       amount=amount, program=program)
    else:
        _create_with_extensions(chain, mint_key=mint_key, authority=authority, token=token, program=program,
                                pool_share=pool_share, holders=holders)
    data = metadata_bytes(mint=mint, update_authority=owner, name=token.name, symbol=token.symbol,
                          uri=f"https://sandbox.invalid/{token.symbol.lower()}.json")
    with chain.lock:
        chain.svm.set_account(metadata_address(mint), Account(
            lamports=chain.svm.minimum_balance_for_rent_exemption(len(data)), data=data, owner=METADATA_PROGRAM,
            executable=False))
    return vault


def _create_with_extensions(chain: Chain, *, mint_key: Keypair, authority: Keypair, token: SimToken, program: Pubkey,
                            pool_share: int, holders: list[tuple[Pubkey, int]]) -> None:
    mint, owner = mint_key.pubkey(), authority.pubkey()
    extensions, size = [], MINT_SIZE
    if token.transfer_fee_bps:
        extensions.append(initialize_transfer_fee_config(token_models.InitializeTransferFeeConfigParams(
            program_id=program, mint=mint, transfer_fee_config_authority=owner if token.transfer_fee_mutable else None,
            withdraw_withheld_authority=owner, transfer_fee_basis_points=token.transfer_fee_bps,
            maximum_fee=MAX_TRANSFER_FEE,
        )))
        size = TRANSFER_FEE_MINT_SIZE
    if token.permanent_delegate:
        extensions.append(Instruction(program, bytes([INITIALIZE_PERMANENT_DELEGATE]) + bytes(owner),
                                      [AccountMeta(mint, is_signer=False, is_writable=True)]))
        size = (size if size > MINT_SIZE else 165 + 1) + PERMANENT_DELEGATE_SIZE
    if str(program) != TOKEN_2022 and extensions:
        raise ValueError("extensions need the Token-2022 program")
    ixs = [
        create_account(CreateAccountParams(
            from_pubkey=owner, to_pubkey=mint, space=size, owner=program,
            lamports=chain.svm.minimum_balance_for_rent_exemption(size),
        )),
        *extensions,
        initialize_mint2(token_models.InitializeMint2Params(
            program_id=program, mint=mint, decimals=token.decimals, mint_authority=owner,
            freeze_authority=owner if token.freeze_authority else None,
        )),
        *_mint_to(program, mint, owner, owner, pool_share),
    ]
    _run(chain, owner, ixs, [authority, mint_key])
    for start in range(0, len(holders), HOLDERS_PER_TRANSACTION):
        batch = holders[start:start + HOLDERS_PER_TRANSACTION]
        _run(chain, owner, [ix for holder, amount in batch for ix in _mint_to(program, mint, owner, holder, amount)],
             [authority])
    _run(chain, owner, [set_authority(token_models.SetAuthorityParams(
        program_id=program, account=mint, authority=AuthorityType.MINT_TOKENS, current_authority=owner,
        new_authority=None))], [authority])


def _mint_to(program: Pubkey, mint: Pubkey, authority: Pubkey, holder: Pubkey, amount: int) -> list[Instruction]:
    dest = get_associated_token_address(holder, mint, program)
    return [create_idempotent_associated_token_account(authority, holder, mint, program),
            mint_to(token_models.MintToParams(program_id=program, mint=mint, dest=dest, mint_authority=authority,
                                              amount=amount))]


def _run(chain: Chain, payer: Pubkey, ixs: list[Instruction], signers: list[Keypair]) -> None:
    with chain.lock:
        tx = VersionedTransaction(MessageV0.try_compile(payer, ixs, [], chain.svm.latest_blockhash()), signers)
        result = chain.svm.send_transaction(tx)
    if isinstance(result, FailedTransactionMetadata):
        raise RuntimeError(f"creating a sandbox mint failed: {result.err()}")
