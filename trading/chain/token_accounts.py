"""A wallet's token accounts: where its tokens of a mint live, what their rent is, and closing the one a sell empties.

A first buy creates the wallet's associated token account (ATA) and pays its rent-exempt minimum (0.00203928 SOL for
an SPL Token account); closing the account (SPL Token ``CloseAccount``) returns that rent to the wallet. The desk
appends ``CloseAccount`` to the sell that empties the account, so the swap and the refund land in one transaction.

The desk only appends to a transaction nobody but the trader has signed (another party's signature would no longer
match the message), that stays within the packet size, and whose static account keys already name the token account
as writable, the wallet as signer and the token program (every sell's own transfer does). A Token-2022 account holding
a withheld transfer fee cannot be closed until the fee is harvested to its mint: the desk then appends
``HarvestWithheldTokensToMint`` (anyone may send it) before the close, and makes the mint writable in the message. Where
none of this is possible the swap goes as the venue built it, the account stays open and its rent is recorded as not
returned (see docs/execution.md, "Rent").
"""

from __future__ import annotations

import logging

from solders.instruction import CompiledInstruction
from solders.message import Message, MessageHeader, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from trading.chain.rpc import TOKEN_2022_PROGRAM_ID

log = logging.getLogger(__name__)

ASSOCIATED_TOKEN_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
ACCOUNT_SIZE = 165  # an SPL Token account; a Token-2022 account adds an account-type byte and its extensions
ACCOUNT_TYPE_ACCOUNT = 2
MINT_TYPE = 1
EXT_TRANSFER_FEE_CONFIG = 1  # on the mint: every account of it carries a TransferFeeAmount
EXT_TRANSFER_FEE_AMOUNT = 2  # on an account: u64 withheld_amount
IMMUTABLE_OWNER_LEN = 4  # an ATA of Token-2022 always has the ImmutableOwner extension (type + length, no data)
TRANSFER_FEE_AMOUNT_LEN = 4 + 8
CLOSE_ACCOUNT = 9  # SPL Token instruction tag: CloseAccount(account, destination, owner)
HARVEST_WITHHELD_TO_MINT = (26, 4)  # Token-2022: TransferFeeExtension, HarvestWithheldTokensToMint(mint, sources...)
PACKET_DATA_SIZE = 1232  # the most bytes a transaction may have on the wire
# Rent: (128 bytes of account overhead + data) x 3480 lamports per byte-year x 2 years of exemption.
RENT_PER_BYTE = 3480 * 2
ACCOUNT_OVERHEAD = 128


def rent_exempt_minimum(size: int) -> int:
    """Lamports an account of ``size`` data bytes must hold (the cluster's default rent)."""
    return (ACCOUNT_OVERHEAD + size) * RENT_PER_BYTE


SPL_ACCOUNT_RENT = rent_exempt_minimum(ACCOUNT_SIZE)  # 2,039,280


def associated_token_address(*, owner: str, mint: str, program: str) -> str:
    seeds = [bytes(Pubkey.from_string(owner)), bytes(Pubkey.from_string(program)), bytes(Pubkey.from_string(mint))]
    return str(Pubkey.find_program_address(seeds, ASSOCIATED_TOKEN_PROGRAM)[0])


def _extensions(data: bytes, kind: int):
    """(type, value) of each TLV extension of a Token-2022 account or mint of ``kind`` (1 mint, 2 account)."""
    if len(data) <= ACCOUNT_SIZE or data[ACCOUNT_SIZE] != kind:
        return
    at = ACCOUNT_SIZE + 1
    while at + 4 <= len(data):
        ext, length = int.from_bytes(data[at:at + 2], "little"), int.from_bytes(data[at + 2:at + 4], "little")
        if ext == 0:
            return
        yield ext, data[at + 4:at + 4 + length]
        at += 4 + length


def account_amount(data: bytes) -> int:
    """The token amount a token account's data holds."""
    return int.from_bytes(data[64:72], "little")


def withheld_fee(data: bytes) -> int:
    """The Token-2022 transfer fee withheld in a token account (0 when it has none)."""
    for ext, value in _extensions(data, ACCOUNT_TYPE_ACCOUNT):
        if ext == EXT_TRANSFER_FEE_AMOUNT and len(value) >= 8:
            return int.from_bytes(value[:8], "little")
    return 0


def new_account_rent(*, program: str, mint_data: bytes | None) -> int:
    """The rent a new associated token account of a mint costs (its size follows the mint's extensions)."""
    if program != TOKEN_2022_PROGRAM_ID:
        return SPL_ACCOUNT_RENT
    size = ACCOUNT_SIZE + 1 + IMMUTABLE_OWNER_LEN
    if mint_data and any(ext == EXT_TRANSFER_FEE_CONFIG for ext, _ in _extensions(mint_data, MINT_TYPE)):
        size += TRANSFER_FEE_AMOUNT_LEN
    return rent_exempt_minimum(size)


def _promoted(message, key: Pubkey):
    """(account keys, header, instructions) of ``message`` with the static readonly unsigned ``key`` made writable:
    moved to the end of the writable unsigned keys, every instruction's indices remapped (keys loaded from lookup tables
    come after the static keys, whose number does not change, so their indices stay)."""
    keys, header = list(message.account_keys), message.header
    readonly_from = len(keys) - header.num_readonly_unsigned_accounts
    reordered = keys[:readonly_from] + [key] + [k for k in keys[readonly_from:] if k != key]
    at = {old: reordered.index(k) for old, k in enumerate(keys)}

    def moved(index: int) -> int:
        return at.get(index, index)

    instructions = [CompiledInstruction(moved(ix.program_id_index), bytes(ix.data), bytes(moved(i) for i in bytes(ix.accounts)))
                    for ix in message.instructions]
    header = MessageHeader(header.num_required_signatures, header.num_readonly_signed_accounts,
                           header.num_readonly_unsigned_accounts - 1)
    return reordered, header, instructions


def close_appended(raw: bytes, *, owner: str, account: str, program: str, harvest_mint: str | None = None) -> bytes | None:
    """``raw`` (an unsigned swap transaction) with ``CloseAccount(account -> owner)`` appended, or None where the desk
    cannot append it (see the module's docstring): the swap then goes as it was and the account stays open.
    ``harvest_mint``: the account holds a withheld Token-2022 transfer fee; ``HarvestWithheldTokensToMint`` (anyone may
    send it) moves it to that mint first, which needs the mint writable: a readonly static key is made writable."""
    tx = VersionedTransaction.from_bytes(raw)
    message = tx.message
    keys, header, instructions = list(message.account_keys), message.header, list(message.instructions)
    signers = keys[: header.num_required_signatures]
    owner_key, account_key, program_key = (Pubkey.from_string(k) for k in (owner, account, program))
    needed = [owner_key, account_key, program_key]
    mint_key = Pubkey.from_string(harvest_mint) if harvest_mint else None
    if owner_key not in signers or any(k not in keys for k in needed + ([mint_key] if mint_key else [])):
        return None
    if any(sig != Signature.default() for key, sig in zip(signers, tx.signatures, strict=False) if key != owner_key):
        return None  # another party signed this message already

    def writable(key: Pubkey) -> bool:
        at, signed = keys.index(key), header.num_required_signatures
        return at < signed - header.num_readonly_signed_accounts or signed <= at < len(keys) - header.num_readonly_unsigned_accounts

    if mint_key is not None and not writable(mint_key):
        if keys.index(mint_key) < header.num_required_signatures:
            return None
        keys, header, instructions = _promoted(message, mint_key)
    if not (writable(account_key) and writable(owner_key)):
        return None
    index, owner_at, program_at = keys.index(account_key), keys.index(owner_key), keys.index(program_key)
    if mint_key is not None:
        instructions.append(CompiledInstruction(program_at, bytes(HARVEST_WITHHELD_TO_MINT),
                                                bytes([keys.index(mint_key), index])))
    instructions.append(CompiledInstruction(program_at, bytes([CLOSE_ACCOUNT]), bytes([index, owner_at, owner_at])))
    if isinstance(message, MessageV0):
        extended = MessageV0(header, keys, message.recent_blockhash, instructions, message.address_table_lookups)
    else:
        extended = Message.new_with_compiled_instructions(
            header.num_required_signatures, header.num_readonly_signed_accounts, header.num_readonly_unsigned_accounts,
            keys, message.recent_blockhash, instructions)
    out = bytes(VersionedTransaction.populate(extended, [Signature.default()] * header.num_required_signatures))
    return out if len(out) <= PACKET_DATA_SIZE else None
