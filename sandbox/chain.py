"""The sandbox chain: `solders.litesvm.LiteSVM` (the real runtime: signature checks, fees, the SPL Token, Token-2022 and
Associated Token Account programs) behind a lock, with a block clock and a ledger.

LiteSVM has no blocks, so the chain keeps a block height that advances with wall time (`slot_seconds` per block), issues a
fresh LiteSVM blockhash (`expire_blockhash`) whenever the height moved, and accepts a transaction only while the height is
within `BLOCKHASH_VALIDITY` blocks of its blockhash's issue height, exactly what `lastValidBlockHeight` promises. LiteSVM's own
check (only the very latest blockhash) is switched off in favour of this window.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from solders.account import Account
from solders.compute_budget import ID as COMPUTE_BUDGET_ID
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import TransactionErrorInstructionError, TransactionStatus
from spl.token.instructions import get_associated_token_address

from sandbox import ledger as L
from sandbox.faults import Faults

BLOCKHASH_VALIDITY = 150
MAX_BUNDLE = 5  # transactions in one bundle (Jito)
TOKEN_PROGRAMS = ("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
MINT_SIZE = 82
MEMO_PROGRAMS = ("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo", "MemoSq4gqABAXKb96qnU1q6bTCEKbqMZZ9E9d1G9e8q")
ACCOUNT_SIZE = 165


class ChainError(Exception):
    """A JSON-RPC error answer: code, message and optional data, as a Solana RPC node gives them."""

    def __init__(self, code: int, message: str, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@dataclass
class TxRecord:
    """What getSignatureStatuses and getTransaction need about an executed transaction."""

    tx: VersionedTransaction
    slot: int
    block_time: int
    err: object  # solders TransactionErrorType or None
    fee: int
    logs: list[str]
    compute_units: int
    pre_balances: list[int]
    post_balances: list[int]
    pre_tokens: list[tuple[int, str, str, str, int, int]] = field(default_factory=list)  # index, mint, owner, program, amount, decimals
    post_tokens: list[tuple[int, str, str, str, int, int]] = field(default_factory=list)


def token_kind(acc: Account | None) -> str | None:
    """"mint", "account" or None for an account of the token programs (Token-2022 extensions tag the kind at byte 165)."""
    if acc is None or str(acc.owner) not in TOKEN_PROGRAMS:
        return None
    size = len(acc.data)
    if size == ACCOUNT_SIZE:
        return "account"
    if size == MINT_SIZE:
        return "mint"
    if size > ACCOUNT_SIZE:
        return {1: "mint", 2: "account"}.get(acc.data[ACCOUNT_SIZE])
    return None


def err_json(err) -> object:
    """A solders TransactionErrorType in the RPC's JSON form (None stays None)."""
    if err is None:
        return None
    return json.loads(TransactionStatus(0, None, None, err, None).to_json())["err"]


def memo_of(tx: VersionedTransaction) -> str | None:
    """The text of the transaction's first memo instruction (the desk puts an order's client id there)."""
    keys = tx.message.account_keys
    for ix in tx.message.instructions:
        if str(keys[ix.program_id_index]) in MEMO_PROGRAMS:
            return bytes(ix.data).decode("utf-8", errors="replace")[:200]
    return None


def unit_price_of(tx: VersionedTransaction) -> int:
    """The micro-lamports per compute unit a transaction bids (its SetComputeUnitPrice; 0 without one)."""
    keys = tx.message.account_keys
    for ix in tx.message.instructions:
        data = bytes(ix.data)
        if keys[ix.program_id_index] == COMPUTE_BUDGET_ID and len(data) == 9 and data[0] == 3:
            return int.from_bytes(data[1:], "little")
    return 0


def tip_of(tx: VersionedTransaction, tip_accounts: set[Pubkey]) -> int:
    """Lamports ``tx`` moves to a tip account by SystemProgram transfers (tag 2, u64 lamports)."""
    keys = tx.message.account_keys
    total = 0
    for ix in tx.message.instructions:
        data = bytes(ix.data)
        accounts = bytes(ix.accounts)
        if (keys[ix.program_id_index] == SYSTEM_PROGRAM_ID and len(data) == 12 and data[:4] == b"\x02\x00\x00\x00"
                and len(accounts) == 2 and keys[accounts[1]] in tip_accounts):
            total += int.from_bytes(data[4:], "little")
    return total


def message_key(tx: VersionedTransaction) -> bytes:
    """Identifies a transaction's message whatever its signatures (venues register swaps under it)."""
    return hashlib.sha256(to_bytes_versioned(tx.message)).digest()


def instruction_key(ix: Instruction) -> bytes:
    """Identifies one instruction by its program, accounts and data (not the flags, which a compiled message merges
    across instructions): a venue that answers instructions registers its swap under the key of the pool's leg, found
    again in whatever transaction the client assembles around it."""
    return _instruction_key(ix.program_id, [m.pubkey for m in ix.accounts], bytes(ix.data))


def _instruction_key(program: Pubkey, accounts: list[Pubkey], data: bytes) -> bytes:
    return hashlib.sha256(bytes(program) + b"".join(bytes(a) for a in accounts) + data).digest()


def instruction_keys(tx: VersionedTransaction) -> list[bytes]:
    """The instruction_key of each instruction of a transaction (static account keys: the sandbox uses no lookup tables)."""
    keys = tx.message.account_keys
    return [_instruction_key(keys[ix.program_id_index], [keys[i] for i in bytes(ix.accounts)], bytes(ix.data))
            for ix in tx.message.instructions]


class Chain:
    def __init__(self, *, ledger: L.Ledger, faults: Faults, slot_seconds: float = 0.4, start_height: int = 1_000):
        self.svm = LiteSVM().with_blockhash_check(False)
        self.cosigners: dict[Pubkey, Keypair] = {}  # pool authorities: signed for when a transaction leaves their slot empty
        self.lock = threading.RLock()
        self.ledger = ledger
        self.faults = faults
        self.slot_seconds = slot_seconds
        self._t0 = time.monotonic()
        self._height0 = start_height
        self._extra_blocks = 0
        self._hash_height = -1
        self._hash = ""
        self._blockhashes: dict[str, int] = {}
        self._records: dict[str, TxRecord] = {}
        self.executed = 0  # transactions executed so far (landed or failed): sandbox.poolstate re-reads balances on change
        self._pending: list[tuple[float, str, VersionedTransaction]] = []
        self._synced_height = -1
        self.priority_fee_series: list[int] = []
        self._recent: deque[str] = deque(maxlen=20_000)  # executed signatures, oldest first (recent fees read the tail)
        self.bundles: dict[str, tuple[list[str], int]] = {}  # landed bundles: id -> (signatures, slot)
        self.bundle_failures: dict[str, str] = {}  # bundles that landed nothing: id -> why  # set: getRecentPrioritizationFees answers it instead of landed fees
        self.latest_blockhash()

    # --- the block clock ------------------------------------------------------------------------------
    def block_height(self) -> int:
        return self._height0 + int((time.monotonic() - self._t0) / self.slot_seconds) + self._extra_blocks

    def advance(self, blocks: int) -> int:
        """Move the block height forward by `blocks` at once (blockhashes issued before then may expire)."""
        if blocks < 0:
            raise ValueError("blocks must be non-negative")
        with self.lock:
            self._extra_blocks += blocks
            return self.block_height()

    def expire_blockhash(self) -> int:
        """Make every blockhash issued so far expire: the height passes their lastValidBlockHeight."""
        with self.lock:
            height = self.advance(BLOCKHASH_VALIDITY + 1)
            self.latest_blockhash()
            return height

    def latest_blockhash(self) -> tuple[str, int]:
        """(blockhash, lastValidBlockHeight); a new LiteSVM blockhash for every block height."""
        height = self.block_height()
        if height == self._hash_height:
            return self._hash, height + BLOCKHASH_VALIDITY
        with self.lock:
            if height != self._hash_height:
                self.svm.expire_blockhash()
                self._hash = str(self.svm.latest_blockhash())
                self._hash_height = height
                self._blockhashes[self._hash] = height
                if len(self._blockhashes) > 4 * BLOCKHASH_VALIDITY:
                    horizon = height - 2 * BLOCKHASH_VALIDITY
                    self._blockhashes = {h: at for h, at in self._blockhashes.items() if at >= horizon}
            return self._hash, height + BLOCKHASH_VALIDITY

    def blockhash_valid(self, blockhash: str) -> bool:
        issued = self._blockhashes.get(blockhash)
        return issued is not None and self.block_height() <= issued + BLOCKHASH_VALIDITY

    def _sync_clock(self) -> int:
        height = self.block_height()
        if height != self._synced_height:
            self.svm.warp_to_slot(height)
            self._synced_height = height
        return height

    # --- setup helpers (not reachable by transactions) ------------------------------------------------
    def set_lamports(self, pubkey: Pubkey, lamports: int) -> None:
        with self.lock:
            self.svm.set_account(pubkey, Account(lamports=lamports, data=b"", owner=Pubkey.default(), executable=False))

    def create_mint(self, mint: Pubkey, *, decimals: int, program: Pubkey, supply: int) -> None:
        data = bytes(Mint(mint_authority=None, supply=supply, decimals=decimals, is_initialized=True, freeze_authority=None))
        with self.lock:
            rent = self.svm.minimum_balance_for_rent_exemption(len(data))
            self.svm.set_account(mint, Account(lamports=rent, data=data, owner=program, executable=False))

    def create_token_account(self, address: Pubkey, *, mint: Pubkey, owner: Pubkey, amount: int, program: Pubkey) -> None:
        data = bytes(TokenAccount(mint=mint, owner=owner, amount=amount, delegate=None, state=TokenAccountState.Initialized,
                                  is_native=None, delegated_amount=0, close_authority=None))
        with self.lock:
            rent = self.svm.minimum_balance_for_rent_exemption(len(data))
            self.svm.set_account(address, Account(lamports=rent, data=data, owner=program, executable=False))

    # --- reads ----------------------------------------------------------------------------------------
    def airdrop(self, pubkey, lamports: int) -> str:
        if lamports <= 0:
            raise ValueError("lamports must be positive")
        with self.lock:
            result = self.svm.airdrop(_pubkey(pubkey), lamports)
            if isinstance(result, FailedTransactionMetadata):  # the same airdrop twice in one blockhash
                self.svm.expire_blockhash()
                result = self.svm.airdrop(_pubkey(pubkey), lamports)
        if isinstance(result, FailedTransactionMetadata):
            raise ChainError(-32603, f"airdrop failed: {result.err()}")
        return str(result.signature())

    def sol_balance(self, pubkey) -> int:
        with self.lock:
            return self.svm.get_balance(_pubkey(pubkey)) or 0

    def account(self, pubkey) -> Account | None:
        with self.lock:
            return self.svm.get_account(_pubkey(pubkey))

    def mint_info(self, mint) -> tuple[int, Pubkey] | None:
        """(decimals, token program) of a mint, or None."""
        acc = self.account(mint)
        if token_kind(acc) != "mint":
            return None
        return Mint.from_bytes(bytes(acc.data[:MINT_SIZE])).decimals, acc.owner

    def token_account(self, address) -> TokenAccount | None:
        acc = self.account(address)
        if token_kind(acc) != "account":
            return None
        return TokenAccount.from_bytes(bytes(acc.data[:ACCOUNT_SIZE]))

    def token_accounts_by_owner(self, owner, *, mint=None, program=None) -> list[tuple[Pubkey, Account]]:
        owner = _pubkey(owner)
        with self.lock:
            if mint is not None:
                info = self.mint_info(mint)
                if info is None:
                    return []
                address = get_associated_token_address(owner, _pubkey(mint), info[1])
                acc = self.svm.get_account(address)
                return [(address, acc)] if token_kind(acc) == "account" else []
            found = self.svm.get_program_accounts(_pubkey(program))
        owner_bytes = bytes(owner)
        return [(a, acc) for a, acc in found if token_kind(acc) == "account" and bytes(acc.data[32:64]) == owner_bytes]

    def token_balance(self, owner, mint) -> int:
        accounts = self.token_accounts_by_owner(owner, mint=mint)
        return sum(TokenAccount.from_bytes(bytes(acc.data[:ACCOUNT_SIZE])).amount for _, acc in accounts)

    def landed_unit_prices(self, *, first_slot: int, accounts: set[Pubkey]) -> dict[int, int]:
        """Per slot from ``first_slot``: the lowest compute-unit price (micro-lamports) of a landed transaction that
        writes one of ``accounts`` (every landed transaction when empty)."""
        lowest: dict[int, int] = {}
        with self.lock:
            records = []
            for signature in reversed(self._recent):  # newest first, so only the last 150 slots are read
                record = self._records[signature]
                if record.slot < first_slot:
                    break
                if record.err is None:
                    records.append(record)
        for record in records:
            message = record.tx.message
            if accounts and not any(message.is_maybe_writable(i) and key in accounts
                                    for i, key in enumerate(message.account_keys)):
                continue
            price = unit_price_of(record.tx)
            lowest[record.slot] = min(price, lowest.get(record.slot, price))
        return lowest

    def record(self, signature: str) -> TxRecord | None:
        self.process_pending()
        return self._records.get(signature)

    # --- transactions ---------------------------------------------------------------------------------
    def decode(self, raw: bytes) -> VersionedTransaction:
        try:
            tx = VersionedTransaction.from_bytes(raw)
        except Exception:  # solders raises several types for malformed input
            raise ChainError(-32602, "failed to deserialize solana_transaction::versioned::VersionedTransaction") from None
        return self.cosign(tx)

    def cosign(self, tx: VersionedTransaction) -> VersionedTransaction:
        """Fill the empty signature slot of every pool authority the transaction names as a signer (a transaction a
        client assembled from a venue's instructions); every other signature stays as sent."""
        message = tx.message
        signers = message.account_keys[: message.header.num_required_signatures]
        signatures = list(tx.signatures)
        missing = [i for i, key in enumerate(signers)
                   if key in self.cosigners and i < len(signatures) and signatures[i] == Signature.default()]
        if not missing:
            return tx
        payload = to_bytes_versioned(message)
        for index in missing:
            signatures[index] = self.cosigners[signers[index]].sign_message(payload)
        return VersionedTransaction.populate(message, signatures)

    def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = False):
        if sig_verify and not all(tx.verify_with_results()):
            raise ChainError(-32003, "Transaction signature verification failure")
        with self.lock:
            self._sync_clock()
            return self.svm.simulate_transaction(tx)

    def send(self, raw: bytes, *, skip_preflight: bool = False) -> str:
        """sendTransaction: returns the signature; raises ChainError for what a node refuses at the door."""
        tx = self.decode(raw)
        self.process_pending()
        with self.lock:  # copies of one transaction sent at once: exactly one of them executes
            return self._send(tx, skip_preflight=skip_preflight)

    def _send(self, tx: VersionedTransaction, *, skip_preflight: bool) -> str:
        signature = str(tx.signatures[0])
        entry = self.ledger.get(signature)
        if entry is not None and entry.status in (L.LANDED, L.FAILED, L.PENDING):
            self.ledger.record(signature=signature, signers=[], status=entry.status, swap=None)  # counts the re-send
            return signature
        swap = self.ledger.swap_for(message_key(tx)) or next(
            (found for key in instruction_keys(tx) if (found := self.ledger.swap_for(key)) is not None), None)
        signers = [str(k) for k in tx.message.account_keys[: tx.message.header.num_required_signatures]]
        if not all(tx.verify_with_results()):
            self._note(tx, signature, signers, L.REJECTED, swap, "signature verification failure")
            raise ChainError(-32003, "Transaction signature verification failure")
        if self.faults.take("rpc", "drop", method="sendTransaction"):
            self._note(tx, signature, signers, L.DROPPED, swap, "dropped by fault injection")
            return signature
        if not self.blockhash_valid(str(tx.message.recent_blockhash)):
            if not skip_preflight:
                self._note(tx, signature, signers, L.REJECTED, swap, "blockhash not found")
                raise ChainError(-32002, "Transaction simulation failed: Blockhash not found",
                                 {"err": "BlockhashNotFound", "logs": [], "accounts": None, "unitsConsumed": 0,
                                  "returnData": None})
            self._note(tx, signature, signers, L.EXPIRED, swap, "blockhash not found")
            return signature
        if not skip_preflight:
            sim = self.simulate(tx)
            if isinstance(sim, FailedTransactionMetadata):
                self._note(tx, signature, signers, L.REJECTED, swap, f"preflight: {sim.err()}")
                raise ChainError(-32002, f"Transaction simulation failed: {sim.err()}",
                                 {"err": err_json(sim.err()), "logs": list(sim.meta().logs()), "accounts": None,
                                  "unitsConsumed": sim.meta().compute_units_consumed(), "returnData": None})
        delay = self.faults.take("rpc", "confirm_delay", method="sendTransaction")
        seconds = float(delay.params.get("seconds", 1.0)) if delay else 0.0
        self._note(tx, signature, signers, L.PENDING, swap, None)
        if seconds > 0:
            with self.lock:
                self._pending.append((time.monotonic() + seconds, signature, tx))
        else:
            self._execute(signature, tx)
        return signature

    # --- bundles (bags.fm's /solana/send-bundle, Jito's rules) ------------------------------------------
    def send_bundle(self, raws: list[bytes], *, tip_accounts: set[Pubkey]) -> tuple[str, str | None]:
        """Execute a bundle all or nothing: (bundle id, None) when every transaction landed, in order, in one slot;
        (bundle id, reason) when one would fail, and then nothing of it happened (every account it touched is as
        before). A bundle is refused outright (ChainError) when it has no tip (a SystemProgram transfer to one of
        ``tip_accounts``), more than five transactions, a bad signature or an expired blockhash. The id is the
        SHA-256 of its signatures, as Jito names bundles."""
        if not 1 <= len(raws) <= MAX_BUNDLE:
            raise ChainError(-32602, f"a bundle holds 1 to {MAX_BUNDLE} transactions")
        txs = [self.decode(raw) for raw in raws]
        bundle_id = hashlib.sha256(b"".join(bytes(tx.signatures[0]) for tx in txs)).hexdigest()
        if not any(tip_of(tx, tip_accounts) for tx in txs):
            raise ChainError(-32602, "bundle has no tip transfer to a tip account")
        for tx in txs:
            if not all(tx.verify_with_results()):
                raise ChainError(-32003, "Transaction signature verification failure")
            if not self.blockhash_valid(str(tx.message.recent_blockhash)):
                raise ChainError(-32002, "Blockhash not found")
        with self.lock:
            if all(str(tx.signatures[0]) in self._records for tx in txs):
                return bundle_id, None  # sent again after it landed: it stands, once
            slot = self._sync_clock()
            # Each transaction is first simulated on the state before the bundle, so a failing bundle leaves no trace
            # (not even a processed signature: its transactions may still land later, as with Jito); a transaction
            # that fails only after an earlier one ran is undone with the rest.
            for index, tx in enumerate(txs, start=1):
                simulated = self.svm.simulate_transaction(tx)
                if isinstance(simulated, FailedTransactionMetadata):
                    return bundle_id, self._bundle_failed(bundle_id, txs, index, simulated.err())
            keys = list(dict.fromkeys(k for tx in txs for k in tx.message.account_keys))
            before = {key: self.svm.get_account(key) for key in keys}
            landed = []
            for tx in txs:
                pre_balances, pre_tokens = self._snapshot(list(tx.message.account_keys))
                result = self.svm.send_transaction(tx)
                if isinstance(result, FailedTransactionMetadata):
                    for key, account in before.items():  # all or nothing: the bundle never happened
                        self.svm.set_account(key, account if account is not None else
                                             Account(lamports=0, data=b"", owner=Pubkey.default(), executable=False))
                    return bundle_id, self._bundle_failed(bundle_id, txs, len(landed) + 1, result.err())
                landed.append((tx, result, pre_balances, pre_tokens))
            for tx, meta, pre_balances, pre_tokens in landed:
                signature = str(tx.signatures[0])
                post_balances, post_tokens = self._snapshot(list(tx.message.account_keys))
                self.executed += 1
                self._recent.append(signature)
                self._records[signature] = TxRecord(
                    tx=tx, slot=slot, block_time=int(time.time()), err=None, fee=meta.fee(), logs=list(meta.logs()),
                    compute_units=meta.compute_units_consumed(), pre_balances=pre_balances, post_balances=post_balances,
                    pre_tokens=pre_tokens, post_tokens=post_tokens,
                )
                swap = self.ledger.swap_for(message_key(tx)) or next(
                    (found for key in instruction_keys(tx) if (found := self.ledger.swap_for(key)) is not None), None)
                signers = [str(k) for k in tx.message.account_keys[: tx.message.header.num_required_signatures]]
                self._note(tx, signature, signers, L.PENDING, swap, None)
                self.ledger.settle(signature, status=L.LANDED, slot=slot, fee=meta.fee())
            self.bundles[bundle_id] = ([str(tx.signatures[0]) for tx, *_ in landed], slot)
        return bundle_id, None

    def _bundle_failed(self, bundle_id: str, txs: list[VersionedTransaction], index: int, err) -> str:
        reason = f"transaction {index} of the bundle failed: {err}"
        for tx in txs:
            signers = [str(k) for k in tx.message.account_keys[: tx.message.header.num_required_signatures]]
            self._note(tx, str(tx.signatures[0]), signers, L.REJECTED, None, reason)
        self.bundle_failures[bundle_id] = reason
        return reason

    def _note(self, tx: VersionedTransaction, signature, signers, status, swap, error) -> None:
        entry = self.ledger.record(signature=signature, signers=signers, status=status, swap=swap, error=error,
                                   client_id=memo_of(tx))
        if entry.status != status and entry.status in (L.DROPPED, L.EXPIRED, L.REJECTED):
            self.ledger.settle(signature, status=status, error=error)

    def process_pending(self) -> None:
        if not self._pending:
            return
        now = time.monotonic()
        with self.lock:
            due = [p for p in self._pending if p[0] <= now]
            self._pending = [p for p in self._pending if p[0] > now]
        for _, signature, tx in due:
            self._execute(signature, tx)

    def _execute(self, signature: str, tx: VersionedTransaction) -> None:
        with self.lock:
            if not self.blockhash_valid(str(tx.message.recent_blockhash)):
                self.ledger.settle(signature, status=L.EXPIRED, error="blockhash expired before the transaction landed")
                return
            slot = self._sync_clock()
            keys = list(tx.message.account_keys)
            pre_balances, pre_tokens = self._snapshot(keys)
            result = self.svm.send_transaction(tx)
            if isinstance(result, FailedTransactionMetadata):
                err, meta = result.err(), result.meta()
                if "AlreadyProcessed" in str(err):  # a copy already executed: its outcome stands
                    return
                if not isinstance(err, TransactionErrorInstructionError):
                    # not executed at all (fee payer missing or broke...): it never lands
                    self.ledger.settle(signature, status=L.REJECTED, error=str(err))
                    return
            else:
                err, meta = None, result
            post_balances, post_tokens = self._snapshot(keys)
            self.executed += 1
            self._recent.append(signature)
            self._records[signature] = TxRecord(
                tx=tx, slot=slot, block_time=int(time.time()), err=err, fee=meta.fee(), logs=list(meta.logs()),
                compute_units=meta.compute_units_consumed(), pre_balances=pre_balances, post_balances=post_balances,
                pre_tokens=pre_tokens, post_tokens=post_tokens,
            )
        self.ledger.settle(signature, status=L.FAILED if err else L.LANDED, slot=slot,
                           error=str(err) if err else None, fee=meta.fee())

    def _snapshot(self, keys: list[Pubkey]):
        balances, tokens = [], []
        for index, key in enumerate(keys):
            acc = self.svm.get_account(key)
            balances.append(acc.lamports if acc else 0)
            if token_kind(acc) == "account":
                ta = TokenAccount.from_bytes(bytes(acc.data[:ACCOUNT_SIZE]))
                info = self.mint_info(ta.mint)
                tokens.append((index, str(ta.mint), str(ta.owner), str(acc.owner), ta.amount, info[0] if info else 0))
        return balances, tokens


def _pubkey(value) -> Pubkey:
    if isinstance(value, Pubkey):
        return value
    if isinstance(value, Keypair):
        return value.pubkey()
    return Pubkey.from_string(str(value))
