"""Where backup files live: a local directory (default) or an S3-compatible bucket (optional extra `s3`).

Every write is atomic: a file appears under its final name complete or not at all. Locally the data is written under a
temporary name, fsynced, renamed, and the directory fsynced; on S3 an object becomes visible only when its (multipart)
upload completes. Failures raise ``StorageError`` (disk full, permission, unreachable endpoint) and leave nothing
under a final name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from backups.errors import BackupError

PARTIAL_MARK = ".partial-"


class StorageError(BackupError):
    def __init__(self, message: str):
        super().__init__(message, "storage_failed")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


class LocalStorage:
    name = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def path(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise StorageError(f"refusing the storage name {name!r}")
        return self.root / name

    def save(self, *, local_path: Path, name: str) -> None:
        final = self.path(name)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fsync_file(local_path)
            if os.stat(local_path).st_dev == os.stat(self.root).st_dev:
                os.replace(local_path, final)
            else:
                partial = self.root / f".{name}{PARTIAL_MARK}{uuid.uuid4().hex}"
                try:
                    with open(local_path, "rb") as src, open(partial, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                        dst.flush()
                        os.fsync(dst.fileno())
                    os.replace(partial, final)
                finally:
                    partial.unlink(missing_ok=True)
            _fsync_dir(self.root)
        except OSError as exc:
            raise StorageError(f"could not store {name} in {self.root}: {exc.strerror or exc}") from exc

    def save_text(self, *, name: str, text: str) -> None:
        partial = self.root / f".{name}{PARTIAL_MARK}{uuid.uuid4().hex}"
        try:
            with open(partial, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, self.path(name))
            _fsync_dir(self.root)
        except OSError as exc:
            raise StorageError(f"could not store {name} in {self.root}: {exc.strerror or exc}") from exc
        finally:
            partial.unlink(missing_ok=True)

    def read_text(self, name: str) -> str:
        try:
            return self.path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise StorageError(f"could not read {name} from {self.root}: {exc.strerror or exc}") from exc

    @contextlib.contextmanager
    def local_copy(self, name: str, *, staging: Path) -> Iterator[Path]:
        path = self.path(name)
        if not path.is_file():
            raise StorageError(f"the file {name} is missing from {self.root}")
        yield path

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_file() and not p.name.startswith("."))

    def delete(self, name: str) -> None:
        try:
            self.path(name).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"could not delete {name} from {self.root}: {exc.strerror or exc}") from exc


class S3Storage:
    """An S3-compatible bucket through boto3 (`pip install 'jarvis[s3]'`)."""

    name = "s3"

    def __init__(self, *, bucket: str, prefix: str, endpoint_url: str | None, region: str | None,
                 access_key_id: str | None, secret_access_key: str | None, timeout: int):
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise StorageError("BACKUP_STORAGE=s3 needs boto3: install the s3 extra (pip install 'jarvis[s3]')") from exc
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            aws_access_key_id=access_key_id or None, aws_secret_access_key=secret_access_key or None,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 3, "mode": "standard"}),
        )

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _call(self, what: str, name: str, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(f"could not {what} {name} at {self.describe()}: {exc}") from exc

    def save(self, *, local_path: Path, name: str) -> None:
        self._call("upload", name, self.client.upload_file, str(local_path), self.bucket, self._key(name))
        local_path.unlink(missing_ok=True)

    def save_text(self, *, name: str, text: str) -> None:
        self._call("upload", name, self.client.put_object, Bucket=self.bucket, Key=self._key(name),
                   Body=text.encode("utf-8"), ContentType="application/json")

    def read_text(self, name: str) -> str:
        answer = self._call("read", name, self.client.get_object, Bucket=self.bucket, Key=self._key(name))
        return answer["Body"].read().decode("utf-8")

    @contextlib.contextmanager
    def local_copy(self, name: str, *, staging: Path) -> Iterator[Path]:
        staging.mkdir(parents=True, exist_ok=True)
        path = staging / f"{name}{PARTIAL_MARK}{uuid.uuid4().hex}"
        try:
            self._call("download", name, self.client.download_file, self.bucket, self._key(name), str(path))
            yield path
        finally:
            path.unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(name))
            return True
        except ClientError:
            return False

    def names(self) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call("list", "the backups", lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix)))
        return sorted(item["Key"][len(self.prefix):] for page in pages for item in page.get("Contents", []))

    def delete(self, name: str) -> None:
        self._call("delete", name, self.client.delete_object, Bucket=self.bucket, Key=self._key(name))


def storage_get(kind: str | None = None) -> LocalStorage | S3Storage:
    kind = kind or settings.BACKUP_STORAGE
    if kind == "local":
        return LocalStorage(settings.BACKUP_DIR)
    return S3Storage(
        bucket=settings.BACKUP_S3_BUCKET, prefix=settings.BACKUP_S3_PREFIX, endpoint_url=settings.BACKUP_S3_ENDPOINT_URL,
        region=settings.BACKUP_S3_REGION, access_key_id=settings.BACKUP_S3_ACCESS_KEY_ID,
        secret_access_key=settings.BACKUP_S3_SECRET_ACCESS_KEY, timeout=settings.BACKUP_S3_TIMEOUT,
    )
