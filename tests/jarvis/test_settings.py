import os
import subprocess
import sys
from pathlib import Path

import pytest

from jarvis.config import ConfigError, database_from_url, env_bool, env_int, redis_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value,expected", [("true", True), ("1", True), ("off", False), ("No", False)])
def test_booleans_parse_strictly(monkeypatch, value, expected):
    monkeypatch.setenv("SOME_FLAG", value)
    assert env_bool("SOME_FLAG") is expected


@pytest.mark.parametrize("value", ["maybe", "tru", "2", "enabled"])
def test_a_bad_boolean_is_an_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("SOME_FLAG", value)
    with pytest.raises(ConfigError, match="SOME_FLAG"):
        env_bool("SOME_FLAG")


def test_file_variant_wins_for_secrets(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("SOME_SECRET", "from-env")
    monkeypatch.setenv("SOME_SECRET_FILE", str(secret))
    from jarvis.config import env_str

    assert env_str("SOME_SECRET") == "from-file"


def test_int_bounds(monkeypatch):
    monkeypatch.setenv("N", "0")
    with pytest.raises(ConfigError, match="N=0 is below"):
        env_int("N", 5, minimum=1)


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://", "not a url", "sqlite://"])
def test_malformed_database_url(monkeypatch, url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        database_from_url("DATABASE_URL", "sqlite:///x.sqlite3", base_dir=tmp_path)


def test_sqlite_default_uses_wal_and_a_busy_timeout(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = database_from_url("DATABASE_URL", "sqlite:///var/desk.sqlite3", base_dir=tmp_path)
    assert config["NAME"] == str(tmp_path / "var/desk.sqlite3")
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] >= 5


@pytest.mark.parametrize("url", ["http://localhost:6379", "redis://host:port/0", "redis://host:6379/abc"])
def test_malformed_redis_url(monkeypatch, url):
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")


def _manage(*args, **env):
    dropped = {"DATABASE_URL", "DEBUG", "SECRET_KEY", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    base.update({"JARVIS_IGNORE_DOTENV": "true", **env})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"SECRET_KEY": "x" * 50, "DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        ({"SECRET_KEY": "x" * 50, "REDIS_URL": "http://nope"}, "REDIS_URL"),
        ({"SECRET_KEY": "x" * 50, "DEBUG": "sometimes"}, "DEBUG"),
        ({}, "SECRET_KEY"),
    ],
)
def test_bad_configuration_is_one_line_at_startup_not_a_traceback(env, needle):
    result = _manage("check", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and "Traceback" not in result.stderr


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="p" * 20 + "roduction-Secret-Key-With-Enough-Entropy-1234567890",
        SECURE_SSL_REDIRECT="true",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_COOKIES="true",
        DATABASE_URL=f"sqlite:///{tmp_path}/deploy.sqlite3",
    )
    assert result.returncode == 0, result.stdout + result.stderr
