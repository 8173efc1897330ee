"""Backup, verify, restore and prune. Interfaces (tasks, commands, admin) call these and render the outcome."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, connections, transaction
from django.utils import timezone

from backups import crypto, pg, sqlite
from backups.alerts import backup_alert
from backups.crypto import plain_copy
from backups.errors import BackupError, BackupRefused
from backups.manifest import manifest_differences
from backups.models import BackupRecord
from backups.retention import Candidate, Policy, retention_keep
from backups.selectors import backup_latest
from backups.storage import PARTIAL_MARK, StorageError, storage_get

logger = logging.getLogger(__name__)

_EXTENSIONS = {"postgresql": "dump", "sqlite": "sqlite3.gz"}


def database_engine(alias: str = "default") -> str:
    engine = settings.DATABASES[alias]["ENGINE"]
    if "postgresql" in engine:
        return "postgresql"
    if "sqlite3" in engine:
        return "sqlite"
    raise BackupError(f"backups support PostgreSQL and SQLite, not {engine}")


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def sidecar_name(name: str) -> str:
    return f"{name}.json"


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"


def _dump(*, engine: str, alias: str, dest: Path) -> dict:
    config = settings.DATABASES[alias]
    if engine == "postgresql":
        return pg.dump(target=pg.PgTarget.from_django(config), dest=dest, compress_level=settings.BACKUP_COMPRESS_LEVEL,
                       timeout=settings.BACKUP_TIMEOUT_SECONDS)
    return sqlite.dump(source=Path(config["NAME"]), dest=dest, compress_level=max(1, settings.BACKUP_COMPRESS_LEVEL))


def backup_create(*, kind: str, database: str = "default") -> BackupRecord:
    """Take one backup: dump + manifest from one snapshot, SHA-256, atomic store, sidecar. Raises BackupError on failure
    after recording it (status failed, error) and alerting; nothing is left under a final name."""
    if kind not in BackupRecord.Kind.values:
        raise BackupError(f"unknown backup kind {kind!r} (use one of {', '.join(BackupRecord.Kind.values)})", "bad_kind")
    engine = database_engine(database)
    record = BackupRecord.objects.create(kind=kind, engine=engine, started_at=timezone.now(),
                                         storage=settings.BACKUP_STORAGE)
    name = f"jarvis-{record.started_at:%Y%m%dT%H%M%SZ}-{kind}-{record.pk}.{_EXTENSIONS[engine]}"
    staging = Path(settings.BACKUP_STAGING_DIR)
    partial = staging / f"{name}{PARTIAL_MARK}{uuid.uuid4().hex}"
    stored = None
    try:
        try:
            staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"could not create the staging directory {staging}: {exc.strerror or exc}") from exc
        manifest = _dump(engine=engine, alias=database, dest=partial)
        key = crypto.configured_key()
        if key is not None:  # the plain dump never reaches the store: it is sealed in staging, then moved
            sealed = partial.with_name(partial.name + ".sealed")
            try:
                crypto.encrypt_file(source=partial, dest=sealed, key=key)
                os.replace(sealed, partial)
            finally:
                sealed.unlink(missing_ok=True)
            name += ".enc"
        sha256, size = file_sha256(partial)
        storage = storage_get()
        storage.save(local_path=partial, name=name)
        stored = storage
        sidecar = {"name": name, "sha256": sha256, "size_bytes": size, "engine": engine, "kind": kind,
                   "started_at": record.started_at.isoformat(), "manifest": manifest,
                   "encryption": {"cipher": "AES-256-GCM", "key_id": crypto.key_id(key)} if key else None}
        storage.save_text(name=sidecar_name(name), text=json.dumps(sidecar, indent=1, sort_keys=True))
    except Exception as exc:
        message = _message(exc)
        if stored is not None:  # the dump landed but its sidecar did not: take the dump back, the record says failed
            with contextlib.suppress(BackupError):
                stored.delete(name)
        BackupRecord.objects.filter(pk=record.pk).update(status=BackupRecord.Status.FAILED, finished_at=timezone.now(),
                                                         error=message)
        backup_alert(key="backup-failed", title=f"Backup {record.pk} ({kind}) failed", detail=message)
        if isinstance(exc, BackupError):
            raise
        raise BackupError(message) from exc
    finally:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # staging never made: nothing to remove
            partial.unlink()
    BackupRecord.objects.filter(pk=record.pk).update(
        status=BackupRecord.Status.SUCCEEDED, finished_at=timezone.now(), size_bytes=size, sha256=sha256,
        location=name, manifest=manifest,
    )
    record.refresh_from_db()
    logger.info("backup %s stored", record.pk, extra={"backup_id": record.pk, "bytes": size})
    return record


@contextlib.contextmanager
def _checked_copy(record: BackupRecord, *, force: bool = False) -> Iterator[Path]:
    """A local, decrypted path to the record's file whose SHA-256 matched the catalogue (or ``force``)."""
    if record.status != BackupRecord.Status.SUCCEEDED or not record.location:
        raise BackupRefused(f"backup {record.pk} is {record.get_status_display()}, there is no file to use")
    storage = storage_get(record.storage)
    with storage.local_copy(record.location, staging=Path(settings.BACKUP_STAGING_DIR)) as path:
        sha256, size = file_sha256(path)
        if sha256 != record.sha256 and not force:
            raise BackupRefused(
                f"backup {record.pk} is corrupt: its file's SHA-256 ({sha256[:12]}…, {size} bytes) does not match the "
                f"catalogue ({record.sha256[:12]}…, {record.size_bytes} bytes)", "backup_corrupt")
        with plain_copy(path, what=f"backup {record.pk}") as plain:
            yield plain


def _scratch_manifest(*, record: BackupRecord, path: Path) -> dict:
    """Restore ``path`` into a scratch database, return its manifest, drop the scratch database."""
    if record.engine == "sqlite":
        image = Path(settings.BACKUP_STAGING_DIR) / f"verify-{record.pk}{PARTIAL_MARK}{uuid.uuid4().hex}"
        try:
            sqlite.unpack(source=path, dest=image)
            return sqlite.manifest_of(image)
        finally:
            image.unlink(missing_ok=True)
    if database_engine() != "postgresql":
        raise BackupError("verifying a PostgreSQL backup needs a PostgreSQL server (DATABASE_URL)")
    server = pg.PgTarget.from_django(settings.DATABASES["default"])
    scratch_name = f"{settings.BACKUP_SCRATCH_DB_PREFIX}_{record.pk}_{uuid.uuid4().hex[:8]}"
    scratch = pg.database_create(target=server, name=scratch_name)
    try:
        pg.restore(target=scratch, source=path, clean=False, jobs=settings.BACKUP_RESTORE_JOBS,
                   timeout=settings.BACKUP_TIMEOUT_SECONDS)
        return pg.manifest_of(scratch)
    finally:
        pg.database_drop(target=server, name=scratch_name)


def backup_verify(*, record_id: int | None = None) -> BackupRecord:
    """Restore a backup (default: the newest successful one) into a scratch database and compare its money tables with
    the manifest. Marks it verified, or records the problems, alerts and raises BackupError."""
    record = BackupRecord.objects.filter(pk=record_id).first() if record_id else backup_latest()
    if record is None:
        raise BackupRefused("there is no successful backup to verify", "not_found")
    try:
        with _checked_copy(record) as path:
            problems = manifest_differences(record.manifest, _scratch_manifest(record=record, path=path))
    except Exception as exc:
        problems = [_message(exc)]
    if problems:
        detail = "; ".join(problems)
        BackupRecord.objects.filter(pk=record.pk).update(verified_at=None, verify_error=detail)
        backup_alert(key="verify-failed", title=f"Backup {record.pk} failed verification", detail=detail)
        raise BackupError(f"backup {record.pk} failed verification: {detail}", "verify_failed")
    BackupRecord.objects.filter(pk=record.pk).update(verified_at=timezone.now(), verify_error="")
    record.refresh_from_db()
    return record


@dataclass
class RestoreResult:
    record: BackupRecord
    safety: BackupRecord
    seconds: float
    problems: list[str] = field(default_factory=list)


def _catalogue_put_back(rows: list[dict]) -> None:
    """The restored database carries the catalogue as it was when the backup was taken; put back today's."""
    with transaction.atomic():
        BackupRecord.objects.all().delete()
        BackupRecord.objects.bulk_create(BackupRecord(**row) for row in rows)
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [BackupRecord]):
                cursor.execute(statement)


def _live_manifest(engine: str) -> dict:
    config = settings.DATABASES["default"]
    if engine == "postgresql":
        return pg.manifest_of(pg.PgTarget.from_django(config))
    return sqlite.manifest_of(Path(config["NAME"]))


def backup_restore(*, record_id: int | None = None, force: bool = False) -> RestoreResult:
    """Replace the default database with a backup (default: the newest successful non-safety one). Refuses unverified or
    corrupt backups unless ``force``; takes a safety backup of the current database first."""
    if record_id is None:  # "latest": the newest verified backup, else the newest one (refused below unless forced)
        record = backup_latest(verified=True, exclude_kinds=(BackupRecord.Kind.SAFETY,)) or backup_latest(
            exclude_kinds=(BackupRecord.Kind.SAFETY,))
    else:
        record = BackupRecord.objects.filter(pk=record_id).first()
    if record is None:
        raise BackupRefused("no such backup" if record_id else "there is no successful backup to restore", "not_found")
    engine = database_engine()
    if record.engine != engine:
        raise BackupRefused(f"backup {record.pk} is a {record.engine} backup but this database is {engine}")
    if not record.is_verified and not force:
        reason = f" (its verification failed: {record.verify_error})" if record.verify_error else ""
        raise BackupRefused(f"backup {record.pk} is not verified{reason}; run `manage.py backup_verify {record.pk}` "
                            "first or pass --force", "not_verified")
    with _checked_copy(record, force=force) as path:
        try:
            safety = backup_create(kind=BackupRecord.Kind.SAFETY)
        except BackupError as exc:
            raise BackupError(f"the safety backup failed, nothing was restored: {exc.message}", "safety_failed") from exc
        started = time.monotonic()
        catalogue = list(BackupRecord.objects.order_by("id").values())
        connections.close_all()
        if engine == "postgresql":
            pg.restore(target=pg.PgTarget.from_django(settings.DATABASES["default"]), source=path, clean=True, jobs=1,
                       timeout=settings.BACKUP_TIMEOUT_SECONDS)
        else:
            sqlite.restore(source=path, target=Path(settings.DATABASES["default"]["NAME"]))
        _catalogue_put_back(catalogue)
        seconds = time.monotonic() - started
    problems = manifest_differences(record.manifest, _live_manifest(engine))
    logger.warning("database restored from backup %s (safety backup %s)", record.pk, safety.pk)
    return RestoreResult(record=record, safety=safety, seconds=seconds, problems=problems)


@dataclass
class PruneResult:
    pruned: list[int] = field(default_factory=list)
    failed_deleted: int = 0
    interrupted: int = 0
    errors: list[str] = field(default_factory=list)


def backup_prune(*, now=None) -> PruneResult:
    """Apply the retention policy: delete the files of backups it does not keep (never the newest verified one), mark
    them pruned, forget old failures, fail backups interrupted mid-run, sweep stale staging files."""
    now = now or timezone.now()
    result = PruneResult()
    stale_before = now - timedelta(seconds=settings.BACKUP_TIMEOUT_SECONDS + 600)
    result.interrupted = BackupRecord.objects.filter(status=BackupRecord.Status.RUNNING, started_at__lt=stale_before).update(
        status=BackupRecord.Status.FAILED, finished_at=now, error="interrupted: the backup job stopped before finishing")
    succeeded = list(BackupRecord.objects.filter(status=BackupRecord.Status.SUCCEEDED))
    policy = Policy(hourly=settings.BACKUP_KEEP_HOURLY, daily=settings.BACKUP_KEEP_DAILY,
                    monthly=settings.BACKUP_KEEP_MONTHLY, manual=settings.BACKUP_KEEP_MANUAL)
    keep = retention_keep([Candidate(r.pk, r.kind, r.started_at, r.is_verified) for r in succeeded], policy)
    for record in succeeded:
        if record.pk in keep:
            continue
        try:
            storage = storage_get(record.storage)
            storage.delete(record.location)
            storage.delete(sidecar_name(record.location))
        except BackupError as exc:
            result.errors.append(f"backup {record.pk}: {exc.message}")
            continue
        BackupRecord.objects.filter(pk=record.pk, status=BackupRecord.Status.SUCCEEDED).update(
            status=BackupRecord.Status.PRUNED)
        result.pruned.append(record.pk)
    failed_before = now - timedelta(days=settings.BACKUP_KEEP_FAILED_DAYS)
    result.failed_deleted, _ = BackupRecord.objects.filter(status=BackupRecord.Status.FAILED,
                                                           started_at__lt=failed_before).delete()
    staging = Path(settings.BACKUP_STAGING_DIR)
    if staging.is_dir():
        for leftover in staging.iterdir():
            if PARTIAL_MARK in leftover.name and leftover.stat().st_mtime < time.time() - 86400:
                leftover.unlink(missing_ok=True)
    if result.errors:
        backup_alert(key="prune-failed", title="Backup pruning failed", detail="; ".join(result.errors))
    return result


def backup_import() -> list[BackupRecord]:
    """Add to the catalogue every backup in storage it does not know (after the database was lost): read from each
    file's sidecar, marked unverified, so a restore needs `backup_verify` (or --force) first."""
    storage = storage_get()
    known = set(BackupRecord.objects.exclude(location="").values_list("location", flat=True))
    names = set(storage.names())
    added = []
    for sidecar in sorted(n for n in names if n.endswith(".json")):
        name = sidecar[: -len(".json")]
        if name in known or name not in names:
            continue
        try:
            meta = json.loads(storage.read_text(sidecar))
            started_at = datetime.fromisoformat(meta["started_at"])
            fields = {"kind": meta["kind"], "engine": meta["engine"], "sha256": meta["sha256"],
                      "size_bytes": int(meta["size_bytes"]), "manifest": meta["manifest"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"the sidecar {sidecar} is unreadable ({exc}); restore that file by hand") from exc
        added.append(BackupRecord.objects.create(status=BackupRecord.Status.SUCCEEDED, started_at=started_at,
                                                 finished_at=started_at, storage=storage.name, location=name, **fields))
    return added
