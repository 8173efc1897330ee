"""SQLite (the local desk): copies through the online backup API, gzip-compressed, with the same kind of manifest.

The backup API copies a consistent image of the database while other connections keep writing; the manifest is then
computed from that image, so both describe the same moment.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

from backups.manifest import money_tables

_CHUNK = 1 << 20


def _table_names(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return [row[0] for row in rows]


def manifest_compute(connection: sqlite3.Connection) -> dict:
    tables = {}
    for table in money_tables(_table_names(connection)):
        quoted = '"' + table.replace('"', '""') + '"'
        count, total = 0, 0
        for row in connection.execute(f"SELECT * FROM {quoted}"):  # noqa: S608 - identifier quoted above
            digest = hashlib.sha256(repr(tuple(row)).encode()).digest()
            total += int.from_bytes(digest[:8], "big")
            count += 1
        tables[table] = {"rows": count, "checksum": str(total)}
    return {"engine": "sqlite", "checksum": "sum(sha256(repr(row))[:8])", "tables": tables}


def manifest_of(path: Path) -> dict:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return manifest_compute(connection)
    finally:
        connection.close()


def dump(*, source: Path, dest: Path, compress_level: int) -> dict:
    """Copy ``source`` online into a temporary file beside ``dest``, take its manifest, gzip it to ``dest``."""
    image = dest.with_name(dest.name + ".image")
    try:
        src = sqlite3.connect(source, timeout=20)
        dst = sqlite3.connect(image)
        try:
            src.backup(dst)
            manifest = manifest_compute(dst)
        finally:
            dst.close()
            src.close()
        with open(image, "rb") as raw, gzip.open(dest, "wb", compresslevel=compress_level) as packed:
            shutil.copyfileobj(raw, packed, _CHUNK)
        return manifest
    finally:
        image.unlink(missing_ok=True)


def unpack(*, source: Path, dest: Path) -> None:
    with gzip.open(source, "rb") as packed, open(dest, "wb") as raw:
        shutil.copyfileobj(packed, raw, _CHUNK)
        raw.flush()
        os.fsync(raw.fileno())


def restore(*, source: Path, target: Path) -> None:
    """Replace the database at ``target`` with the image in ``source`` (gzip), through the backup API."""
    image = target.with_name(target.name + ".restore-image")
    try:
        unpack(source=source, dest=image)
        src = sqlite3.connect(image)
        dst = sqlite3.connect(target, timeout=20)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    finally:
        image.unlink(missing_ok=True)
