"""Backup files encrypted at rest: AES-256-GCM (the `cryptography` package) over 1 MiB chunks, streamed.

Layout: a header (magic, the key id, a random 8-byte nonce prefix), then records of a 4-byte length and one sealed
chunk. Each chunk's nonce is the prefix and the chunk's number; its associated data is the header, the number and a
"last chunk" flag, so chunks cannot be reordered, dropped, or the file cut short without the decryption failing.

The key (BACKUP_ENCRYPTION_KEY, 32 bytes in URL-safe base64) lives outside the backup store; a file names only the
key's id (the first 8 bytes of a SHA-256 of the key), so an operator can tell which key a backup needs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from backups.errors import BackupError, BackupRefused
from backups.storage import PARTIAL_MARK

MAGIC = b"JARVISBK1\n"
CHUNK = 1 << 20
_TAG = 16
_HEADER = len(MAGIC) + 8 + 8


def key_parse(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise BackupError("BACKUP_ENCRYPTION_KEY must be 32 random bytes in URL-safe base64 (see "
                          "docs/runbooks/backup-restore.md for how to make one)", "bad_key")
    return key


def key_new() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"jarvis-backup-key\0" + key).hexdigest()[:16]


def file_key_id(path: Path) -> str | None:
    """The id of the key ``path`` is encrypted under, or None when it is not an encrypted backup file."""
    with open(path, "rb") as handle:
        header = handle.read(_HEADER)
    if len(header) < _HEADER or not header.startswith(MAGIC):
        return None
    return header[len(MAGIC):len(MAGIC) + 8].hex()


def _aad(header: bytes, number: int, last: bool) -> bytes:
    return header + struct.pack(">IB", number, 1 if last else 0)


def encrypt_file(*, source: Path, dest: Path, key: bytes) -> None:
    prefix = os.urandom(8)
    header = MAGIC + bytes.fromhex(key_id(key)) + prefix
    aead = AESGCM(key)
    with open(source, "rb") as src, open(dest, "wb") as dst:
        dst.write(header)
        number, chunk = 0, src.read(CHUNK)
        while True:
            following = src.read(CHUNK)
            last = not following
            sealed = aead.encrypt(prefix + struct.pack(">I", number), chunk, _aad(header, number, last))
            dst.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                break
            number, chunk = number + 1, following
        dst.flush()
        os.fsync(dst.fileno())


def decrypt_file(*, source: Path, dest: Path, key: bytes | None, what: str) -> None:
    """Decrypt ``source`` into ``dest``. Refuses (BackupRefused, naming the key id) when the file needs another key,
    and when any chunk fails authentication: a wrong key or damaged file never yields output that looks restorable."""
    found = file_key_id(source)
    if found is None:
        raise BackupRefused(f"{what} is not an encrypted backup file", "not_encrypted")
    if key is None or key_id(key) != found:
        have = f"the configured key is {key_id(key)}" if key is not None else "no BACKUP_ENCRYPTION_KEY is set"
        raise BackupRefused(f"{what} is encrypted under key {found}, which is not available ({have}); it cannot be "
                            f"restored without that key", "key_missing")
    aead = AESGCM(key)
    try:
        with open(source, "rb") as src, open(dest, "wb") as dst:
            header = src.read(_HEADER)
            prefix = header[-8:]
            number = 0
            while True:
                size_bytes = src.read(4)
                if len(size_bytes) < 4:
                    raise InvalidTag("the file ends before its last chunk")
                (size,) = struct.unpack(">I", size_bytes)
                sealed = src.read(size)
                if len(sealed) != size or size < _TAG:
                    raise InvalidTag("a chunk is cut short")
                nonce = prefix + struct.pack(">I", number)
                try:
                    chunk, last = aead.decrypt(nonce, sealed, _aad(header, number, False)), False
                except InvalidTag:
                    chunk, last = aead.decrypt(nonce, sealed, _aad(header, number, True)), True
                dst.write(chunk)
                if last:
                    if src.read(1):
                        raise InvalidTag("data after the last chunk")
                    break
                number += 1
    except InvalidTag as exc:
        Path(dest).unlink(missing_ok=True)
        raise BackupRefused(f"{what} does not decrypt under key {found}: the file is damaged or was altered",
                            "backup_corrupt") from exc


def configured_key() -> bytes | None:
    """BACKUP_ENCRYPTION_KEY (or its _FILE), parsed; None when backups are not encrypted."""
    text = getattr(settings, "BACKUP_ENCRYPTION_KEY", None)
    return key_parse(text) if text else None


@contextlib.contextmanager
def plain_copy(path: Path, *, what: str) -> Iterator[Path]:
    """``path`` itself, or when it is encrypted, a decrypted copy in staging (removed afterwards). A file encrypted
    under a key that is not configured is refused, naming the key's id."""
    if file_key_id(path) is None:
        yield path
        return
    staging = Path(settings.BACKUP_STAGING_DIR)
    staging.mkdir(parents=True, exist_ok=True)
    plain = staging / f"plain{PARTIAL_MARK}{uuid.uuid4().hex}"
    try:
        decrypt_file(source=path, dest=plain, key=configured_key(), what=what)
        yield plain
    finally:
        plain.unlink(missing_ok=True)
