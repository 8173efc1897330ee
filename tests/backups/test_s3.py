"""S3-compatible storage through the real boto3 client against a local S3 server (moto's, over HTTP)."""

from __future__ import annotations

import socket

import pytest

from backups.errors import BackupError
from backups.models import BackupRecord
from backups.services import backup_create, backup_import, backup_prune, backup_verify

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

BUCKET = "jarvis-backups-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()


@pytest.fixture
def s3_settings(backup_settings, s3_endpoint):
    backup_settings.BACKUP_STORAGE = "s3"
    backup_settings.BACKUP_S3_BUCKET = BUCKET
    backup_settings.BACKUP_S3_PREFIX = "desk/"
    backup_settings.BACKUP_S3_ENDPOINT_URL = s3_endpoint
    backup_settings.BACKUP_S3_REGION = "us-east-1"
    backup_settings.BACKUP_S3_ACCESS_KEY_ID = "local-test-key"
    backup_settings.BACKUP_S3_SECRET_ACCESS_KEY = "local-test-secret"
    backup_settings.BACKUP_S3_TIMEOUT = 2
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="local-test-key",
                          aws_secret_access_key="local-test-secret")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.mark.usefixtures("test_ledger")
def test_backups_in_s3_are_stored_verified_imported_and_pruned(s3_settings, settings):
    record = backup_create(kind=BackupRecord.Kind.HOURLY)
    assert record.storage == "s3"
    assert _keys(s3_settings) == [f"desk/{record.location}", f"desk/{record.location}.json"]
    assert list((settings.BACKUP_STAGING_DIR).iterdir()) == []  # staged locally, then removed
    assert backup_verify(record_id=record.pk).is_verified

    BackupRecord.objects.all().delete()
    (imported,) = backup_import()
    assert (imported.location, imported.sha256, imported.storage) == (record.location, record.sha256, "s3")

    settings.BACKUP_KEEP_HOURLY = 0
    newer = backup_create(kind=BackupRecord.Kind.HOURLY)
    backup_verify(record_id=newer.pk)
    assert backup_prune().pruned == [imported.pk]
    assert _keys(s3_settings) == [f"desk/{newer.location}", f"desk/{newer.location}.json"]


@pytest.mark.usefixtures("test_ledger")
def test_an_unreachable_s3_endpoint_fails_loudly_and_the_next_run_succeeds(s3_settings, settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    good, settings.BACKUP_S3_ENDPOINT_URL = settings.BACKUP_S3_ENDPOINT_URL, dead
    with pytest.raises(BackupError, match="could not upload"):
        backup_create(kind=BackupRecord.Kind.HOURLY)
    failed = BackupRecord.objects.get()
    assert failed.status == BackupRecord.Status.FAILED and failed.location == ""
    assert _keys(s3_settings) == [] and list(settings.BACKUP_STAGING_DIR.iterdir()) == []

    settings.BACKUP_S3_ENDPOINT_URL = good
    assert backup_create(kind=BackupRecord.Kind.HOURLY).status == BackupRecord.Status.SUCCEEDED
