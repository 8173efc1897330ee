"""SQLite (the local desk) through the online backup API, and the JSON state export without secrets."""

from __future__ import annotations

import io
import json
import sqlite3
import threading

import pytest
from django.apps import apps
from django.core.management import call_command

from backups import sqlite
from backups.export import exportable_fields
from backups.models import BackupRecord
from backups.services import backup_create, backup_verify, file_sha256


def _desk(path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE trading_paperledger (id INTEGER PRIMARY KEY, trader TEXT, lamports INTEGER)")
    db.execute("CREATE TABLE django_session (session_key TEXT PRIMARY KEY, data TEXT)")
    db.executemany("INSERT INTO trading_paperledger (trader, lamports) VALUES (?, ?)",
                   [(f"t{i}", 10**9 + i) for i in range(500)])
    db.execute("INSERT INTO django_session VALUES ('k', 'not money')")
    db.commit()
    db.close()


def test_sqlite_copy_under_concurrent_writes_matches_its_manifest_and_restores(tmp_path):
    source, packed = tmp_path / "desk.sqlite3", tmp_path / "desk.sqlite3.gz"
    _desk(source)
    stop = threading.Event()

    def writer():
        db = sqlite3.connect(source, timeout=20)
        while not stop.is_set():
            db.execute("INSERT INTO trading_paperledger (trader, lamports) VALUES ('w', 1)")
            db.commit()
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        manifest = sqlite.dump(source=source, dest=packed, compress_level=1)
    finally:
        stop.set()
        thread.join()
    assert list(manifest["tables"]) == ["trading_paperledger"] and manifest["tables"]["trading_paperledger"]["rows"] >= 500

    image = tmp_path / "image.sqlite3"
    sqlite.unpack(source=packed, dest=image)
    assert sqlite.manifest_of(image) == manifest

    target = tmp_path / "restored.sqlite3"
    _desk(target)
    sqlite3.connect(target).execute("DELETE FROM trading_paperledger").connection.commit()
    sqlite.restore(source=packed, target=target)
    assert sqlite.manifest_of(target) == manifest


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_sqlite_backup_is_recorded_stored_and_verified(settings, backup_settings, tmp_path):
    desk = tmp_path / "desk.sqlite3"
    _desk(desk)
    settings.DATABASES = {**settings.DATABASES, "desk": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(desk)}}
    record = backup_create(kind=BackupRecord.Kind.MANUAL, database="desk")
    assert record.engine == "sqlite" and record.location.endswith(".sqlite3.gz.enc")
    assert file_sha256(settings.BACKUP_DIR / record.location) == (record.sha256, record.size_bytes)
    sidecar = json.loads((settings.BACKUP_DIR / f"{record.location}.json").read_text())
    assert sidecar["sha256"] == record.sha256 and sidecar["manifest"] == record.manifest
    assert backup_verify(record_id=record.pk).is_verified


@pytest.mark.django_db
def test_the_state_export_is_json_and_holds_no_secret_or_binary_field(capsys):
    call_command("export_state")
    document = json.loads(capsys.readouterr().out)
    assert document["format"] == "jarvis-state" and set(document["counts"]) == set(document["models"])
    try:
        trading_models = list(apps.get_app_config("trading").get_models())
    except LookupError:
        trading_models = []
    assert set(document["models"]) == {m._meta.label for m in trading_models}
    for model in trading_models:
        fields = exportable_fields(model)
        assert not any("secret" in name or "password" in name for name in fields)
        binary = {f.attname for f in model._meta.concrete_fields if f.get_internal_type() == "BinaryField"}
        assert not binary & set(fields)
    if apps.is_installed("trading") and any(m.__name__ == "Wallet" for m in trading_models):
        wallet = apps.get_model("trading", "Wallet")
        assert "encrypted_secret" not in exportable_fields(wallet) and "public_key" in exportable_fields(wallet)


def test_export_writes_to_a_file(tmp_path, db):
    out = io.StringIO()
    call_command("export_state", "--output", str(tmp_path / "state.json"), stderr=out)
    assert "rows of" in out.getvalue() and json.loads((tmp_path / "state.json").read_text())["version"] == 1
