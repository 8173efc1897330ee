"""Point-in-time recovery: WAL segments archived into the backup storage, base backups, and a restore to a moment.

Postgres' `archive_command` calls `manage.py archive_wal %p %f`, which compresses, encrypts (BACKUP_ENCRYPTION_KEY)
and stores one segment as ``wal-<name>.gz[.enc]``; `restore_command` calls `manage.py restore_wal %f %p`, the reverse.
`manage.py base_backup` stores a `pg_basebackup` tar as ``base-<time>.tar.gz[.enc]`` with its description in
``base-<time>.info``. A restore to a time takes the newest base backup finished before it, checks that the archive
holds every segment from that backup on (a gap is refused, named), unpacks it into an empty data directory and writes
``recovery_target_time`` and ``restore_command``; Postgres replays the archive up to that moment and promotes.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from django.conf import settings

from backups import crypto, pg
from backups.errors import BackupError, BackupRefused
from backups.storage import PARTIAL_MARK, storage_get

WAL_PREFIX = "wal-"
BASE_PREFIX = "base-"
# Segments, timeline history files, backup history files and partial segments, as Postgres names them.
WAL_FILE = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial|\.[0-9A-F]{8}\.backup)?$|^[0-9A-F]{8}\.history$")
SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")


def _staging() -> Path:
    staging = Path(settings.BACKUP_STAGING_DIR)
    staging.mkdir(parents=True, exist_ok=True)
    return staging


def _temp(label: str) -> Path:
    return _staging() / f"{label}{PARTIAL_MARK}{uuid.uuid4().hex}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _store_sealed(*, plain: Path, name: str) -> tuple[str, str]:
    """Store ``plain`` (already compressed) under ``name``, encrypted when a key is set; returns the stored name and
    the stored file's SHA-256."""
    key = crypto.configured_key()
    if key is None:
        sha256 = _sha256(plain)
        storage_get().save(local_path=plain, name=name)
        return name, sha256
    sealed = _temp(name)
    try:
        crypto.encrypt_file(source=plain, dest=sealed, key=key)
        sha256 = _sha256(sealed)
        storage_get().save(local_path=sealed, name=name + ".enc")
    finally:
        sealed.unlink(missing_ok=True)
    return name + ".enc", sha256


@contextlib.contextmanager
def _fetch_plain(stored: str) -> Iterator[Path]:
    """A local, decrypted copy of the stored file (refused, naming the key, when its key is not configured)."""
    with storage_get().local_copy(stored, staging=_staging()) as path, crypto.plain_copy(path, what=stored) as plain:
        yield plain


def wal_stored() -> dict[str, str]:
    """Archived WAL file name -> its name in the storage."""
    found = {}
    for stored in storage_get().names():
        if stored.startswith(WAL_PREFIX):
            found[stored[len(WAL_PREFIX):].split(".gz", 1)[0]] = stored
    return found


def _wal_find(name: str) -> str | None:
    """The stored name of the archived WAL file ``name`` (encrypted or not), looked up directly, not by listing."""
    storage = storage_get()
    for stored in (f"{WAL_PREFIX}{name}.gz.enc", f"{WAL_PREFIX}{name}.gz"):
        if storage.exists(stored):
            return stored
    return None


def wal_archive(*, source: Path, name: str) -> None:
    """archive_command: store one WAL file. Archiving the same file twice succeeds; a different file under a name
    already archived is an error (Postgres keeps the segment and retries, and the operator is told)."""
    if not WAL_FILE.match(name):
        raise BackupError(f"{name!r} is not a WAL file name", "bad_wal_name")
    packed = _temp(name)
    try:
        with open(source, "rb") as raw, gzip.open(packed, "wb", compresslevel=1) as out:
            shutil.copyfileobj(raw, out, 1 << 20)
        already = _wal_find(name)
        if already is not None:
            with _fetch_plain(already) as existing, gzip.open(existing, "rb") as old:
                same = hashlib.sha256(old.read()).hexdigest() == _sha256(source)
            if same:
                return
            raise BackupError(f"WAL file {name} is already archived with different content; the archive may be shared "
                              "by two clusters", "wal_conflict")
        _store_sealed(plain=packed, name=f"{WAL_PREFIX}{name}.gz")
    finally:
        packed.unlink(missing_ok=True)


def wal_fetch(*, name: str, dest: Path) -> bool:
    """restore_command: write the archived WAL file ``name`` to ``dest``; False when the archive has no such file."""
    stored = _wal_find(name)
    if stored is None:
        return False
    partial = dest.with_name(dest.name + PARTIAL_MARK + uuid.uuid4().hex)
    try:
        with _fetch_plain(stored) as plain, gzip.open(plain, "rb") as packed, open(partial, "wb") as out:
            shutil.copyfileobj(packed, out, 1 << 20)
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return True


def segment_name(*, timeline: int, lsn: str, segment_size: int) -> str:
    high, low = (int(part, 16) for part in lsn.split("/"))
    number = ((high << 32) | low) // segment_size
    per_id = 0x100000000 // segment_size
    return f"{timeline:08X}{number // per_id:08X}{number % per_id:08X}"


def _segment_number(name: str, segment_size: int) -> tuple[int, int]:
    match = SEGMENT.match(name)
    timeline, log, seg = (int(part, 16) for part in match.groups())
    return timeline, log * (0x100000000 // segment_size) + seg


def wal_gaps(*, archived: list[str], start: str, end: str, segment_size: int) -> list[str]:
    """Plain sentences naming every segment missing from ``start`` on (and up to ``end`` at least): across timelines
    from the start's own on, the segment numbers must run without a hole."""
    timeline, first = _segment_number(start, segment_size)
    last_needed = _segment_number(end, segment_size)[1]
    numbers: dict[int, int] = {}
    for name in archived:
        if SEGMENT.match(name):
            tli, number = _segment_number(name, segment_size)
            if tli >= timeline and number >= first:
                numbers.setdefault(number, tli)
    per_id = 0x100000000 // segment_size
    top = max([last_needed, *numbers])
    problems = []
    previous_tli = timeline
    for number in range(first, top + 1):
        if number in numbers:
            previous_tli = numbers[number]
            continue
        missing = f"{previous_tli:08X}{number // per_id:08X}{number % per_id:08X}"
        if number <= last_needed:
            problems.append(f"WAL segment {missing} is missing: the base backup needs it to become consistent")
        else:
            problems.append(f"WAL segment {missing} is missing from the archive, which goes on after it; recovery "
                            "cannot pass the gap")
    return problems


def _server_value(target: pg.PgTarget, query: str):
    connection = target.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchone()[0]
    finally:
        connection.close()


def base_backup_create(*, target: pg.PgTarget) -> dict:
    """`pg_basebackup` of the cluster ``target`` points at (tar, gzip, WAL from the archive), stored encrypted with
    its description. Needs a role with REPLICATION and archiving already on."""
    started_at = datetime.now(UTC)
    label = f"{BASE_PREFIX}{started_at:%Y%m%dT%H%M%S%fZ}"
    segment_size = int(_server_value(target, "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'"))
    work = _temp(label)
    work.mkdir()
    try:
        command = [pg.pg_bin("pg_basebackup"), f"--pgdata={work}", "--format=tar", "--gzip", "--wal-method=none",
                   "--checkpoint=fast", f"--label={label}", "--no-password"]
        completed = subprocess.run(command, env=target.env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=settings.BACKUP_TIMEOUT_SECONDS, check=False)
        if completed.returncode != 0:
            tail = " / ".join(completed.stderr.strip().splitlines()[-3:]) or "no message"
            raise BackupError(f"pg_basebackup failed (exit {completed.returncode}): {tail}")
        tars = sorted(p.name for p in work.iterdir() if p.name.endswith(".tar.gz"))
        if tars != ["base.tar.gz"]:
            raise BackupError(f"the cluster has tablespaces outside its data directory ({', '.join(tars)}); "
                              "point-in-time backups support the data directory alone")
        ranges = json.loads((work / "backup_manifest").read_text())["WAL-Ranges"]
        timeline = int(ranges[0]["Timeline"])
        info = {
            "label": label, "started_at": started_at.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
            "timeline": timeline, "segment_size": segment_size,
            "start_segment": segment_name(timeline=timeline, lsn=ranges[0]["Start-LSN"], segment_size=segment_size),
            "end_segment": segment_name(timeline=int(ranges[-1]["Timeline"]), lsn=ranges[-1]["End-LSN"],
                                        segment_size=segment_size),
        }
        info["file"], info["sha256"] = _store_sealed(plain=work / "base.tar.gz", name=f"{label}.tar.gz")
        storage_get().save_text(name=f"{label}.info", text=json.dumps(info, indent=1, sort_keys=True))
        return info
    finally:
        shutil.rmtree(work, ignore_errors=True)


def base_backup_list() -> list[dict]:
    storage = storage_get()
    infos = [json.loads(storage.read_text(name)) for name in storage.names()
             if name.startswith(BASE_PREFIX) and name.endswith(".info")]
    return sorted(infos, key=lambda info: info["finished_at"])


@dataclass
class PitrPlan:
    base: dict
    data_dir: Path
    to_time: datetime
    seconds: float = 0.0


def wal_command(action: str) -> str:
    """The archive (``archive``) or restore (``restore``) command line for this installation (backups/wal.py)."""
    places = {"archive": "%p %f", "restore": "%f %p"}
    script = Path(settings.BASE_DIR) / "backups" / "wal.py"
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {action} {places[action]}"


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def pitr_prepare(*, to_time: datetime, data_dir: Path, restore_command: str | None = None) -> PitrPlan:
    """Unpack the newest base backup finished before ``to_time`` into the empty ``data_dir`` with recovery settings
    that replay the archive up to ``to_time`` and promote. Refuses when no base backup is old enough, when the
    archive has a gap (naming the segment) or when ``data_dir`` is not empty; nothing is written then."""
    if to_time.tzinfo is None:
        raise BackupRefused("give the time with its zone (e.g. 2026-12-07T14:05:00Z)", "bad_time")
    started = time.monotonic()
    bases = [info for info in base_backup_list() if datetime.fromisoformat(info["finished_at"]) <= to_time]
    if not bases:
        raise BackupRefused(f"no base backup finished before {to_time.isoformat()}; the earliest point this archive "
                            "can reach is the end of its oldest base backup", "no_base_backup")
    base = bases[-1]
    gaps = wal_gaps(archived=list(wal_stored()), start=base["start_segment"], end=base["end_segment"],
                    segment_size=base["segment_size"])
    if gaps:
        raise BackupRefused("the WAL archive is incomplete, nothing was restored: " + "; ".join(gaps), "wal_gap")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupRefused(f"the data directory {data_dir} is not empty; give an empty or new directory", "not_empty")
    with storage_get().local_copy(base["file"], staging=_staging()) as path:
        if _sha256(path) != base["sha256"]:
            raise BackupRefused(f"base backup {base['label']} is corrupt: its SHA-256 does not match its description",
                                "backup_corrupt")
        with crypto.plain_copy(path, what=base["file"]) as plain:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            data_dir.chmod(0o700)
            with tarfile.open(plain, "r:gz") as tar:
                tar.extractall(data_dir, filter="tar")
    (data_dir / "pg_wal").mkdir(mode=0o700, exist_ok=True)
    with open(data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
        conf.write(f"\n# point-in-time recovery from {base['label']}\n"
                   f"restore_command = {_conf_quote(restore_command or wal_command('restore'))}\n"
                   f"recovery_target_time = {_conf_quote(to_time.isoformat())}\n"
                   "recovery_target_action = 'promote'\n"
                   "recovery_target_timeline = 'latest'\n")
    (data_dir / "recovery.signal").touch()
    return PitrPlan(base=base, data_dir=data_dir, to_time=to_time, seconds=time.monotonic() - started)


def _postmaster(data_dir: Path) -> tuple[str, str] | None:
    """(socket directory or host, port) of the server running on ``data_dir``, from its postmaster.pid."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 6:
        return None
    host = lines[4].strip() or lines[5].strip() or "127.0.0.1"
    return host, lines[3].strip()


def pitr_start(*, plan: PitrPlan) -> float:
    """Start Postgres on the prepared data directory and wait until recovery reached the target and promoted.
    Run as the operating-system user that owns the data directory. Returns the seconds it took."""
    started = time.monotonic()
    log = plan.data_dir.parent / f"{plan.data_dir.name}.recovery.log"
    completed = subprocess.run([pg.pg_bin("pg_ctl"), "--pgdata", str(plan.data_dir), "--log", str(log), "--wait",
                                "--timeout", str(settings.BACKUP_TIMEOUT_SECONDS), "start"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)

    def failed(what: str) -> BackupError:
        tail = log.read_text(errors="replace").strip().splitlines()[-4:] if log.exists() else []
        return BackupError(f"{what}: {' / '.join(tail) or 'no message'} (log: {log})", "pitr_failed")

    if completed.returncode != 0:
        raise failed("Postgres did not start on the restored data directory")
    deadline = time.monotonic() + settings.BACKUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        address = _postmaster(plan.data_dir)
        if address is None:
            raise failed("Postgres stopped during recovery")
        try:
            in_recovery = _server_value(pg.PgTarget(name="postgres", host=address[0], port=address[1]),
                                        "SELECT pg_is_in_recovery()")
        except psycopg2.Error:  # still starting, or stopping: look again
            in_recovery = True
        if not in_recovery:
            return time.monotonic() - started + plan.seconds
        time.sleep(0.2)
    raise failed("recovery did not finish in BACKUP_TIMEOUT_SECONDS")
