"""Strict environment parsing: the one place where settings are read from the environment.

Every reader raises ``ConfigError`` with a one-line message naming the variable. ``NAME_FILE``
is honoured for every variable (Docker/Kubernetes secrets), and wins over ``NAME``.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_UNSET = object()


class ConfigError(ImproperlyConfigured):
    """A bad or missing environment variable. The message is one line and names the variable."""


def raw(name: str, default=_UNSET) -> str | None:
    file_var = f"{name}_FILE"
    path = os.environ.get(file_var)
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{file_var}={path!r} cannot be read: {exc.strerror}") from None
    value = os.environ.get(name)
    if value is None or value == "":
        if default is _UNSET:
            raise ConfigError(f"{name} is required but not set")
        return default
    return value


def env_str(name: str, default: str | None = None) -> str | None:
    return raw(name, default)


def env_required(name: str) -> str:
    return raw(name)


def env_bool(name: str, default: bool = False) -> bool:
    value = raw(name, None)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = raw(name, None)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name}={number} is above the maximum {maximum}")
    return number


def env_decimal(name: str, default: str) -> Decimal:
    value = raw(name, None)
    if value is None:
        return Decimal(default)
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ConfigError(f"{name}={value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ConfigError(f"{name}={value!r} is not a finite number")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = raw(name, None)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (raw(name, None) or default).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


def env_int_list(name: str) -> list[int]:
    items = env_list(name)
    try:
        return [int(item) for item in items]
    except ValueError:
        raise ConfigError(f"{name} must be a comma-separated list of numeric ids") from None


def dotenv_file(base_dir: Path) -> Path | None:
    """The `.env` file: JARVIS_ENV_FILE, else `.env` at the project root; None when JARVIS_IGNORE_DOTENV is true."""
    if env_bool("JARVIS_IGNORE_DOTENV", False):
        return None
    return Path(raw("JARVIS_ENV_FILE", None) or base_dir / ".env")


def dotenv_load(base_dir: Path) -> Path | None:
    """Fill in from `.env` what the real environment leaves unset: the environment, then `.env`, then defaults.

    The one precedence for every process: settings call this, and so does the local process manager (jarvis.desk)
    before it starts the desk's processes, so they inherit exactly the environment the settings read."""
    path = dotenv_file(base_dir)
    if path is not None:
        load_dotenv(path, override=False)
    return path


def database_from_url(name: str, default: str, *, base_dir: Path, conn_max_age: int = 0) -> dict:
    """Parse DATABASE_URL into a Django DATABASES entry (Postgres or SQLite); connections are kept for
    `conn_max_age` seconds (0: one per request or task)."""
    url = raw(name, default)
    scheme = urlsplit(url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ConfigError(f"{name} must be a postgres:// or sqlite:/// URL, got scheme {scheme or 'none'!r}")
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age)
    except Exception as exc:  # dj-database-url raises several types for malformed URLs
        raise ConfigError(f"{name} is malformed: {exc}") from None
    if config["ENGINE"].endswith("sqlite3"):
        db_name = config.get("NAME") or ""
        if not db_name or db_name == ":memory:":
            raise ConfigError(f"{name} must name a SQLite file (sqlite:///path/to/file.sqlite3)")
        path = Path(db_name)
        if not path.is_absolute():
            path = base_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        config["NAME"] = str(path)
        # WAL lets web, workers and beat read while one writes; the busy timeout makes writers wait
        # instead of failing with "database is locked"; IMMEDIATE takes the write lock up front so
        # a read-then-write transaction cannot deadlock on upgrade.
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        }
    else:
        if not config.get("NAME"):
            raise ConfigError(f"{name} must name a database (postgres://user@host:5432/dbname)")
        if "," in config.get("HOST", "") and config.get("OPTIONS", {}).get("target_session_attrs") not in {
                "read-write", "primary"}:
            raise ConfigError(f"{name} lists several hosts: add ?target_session_attrs=read-write so only the primary "
                              "is used")
        config.setdefault("OPTIONS", {})
        config["OPTIONS"].setdefault("connect_timeout", 5)
        config["CONN_HEALTH_CHECKS"] = True
    return config


def redis_url(name: str, default: str) -> str:
    """A redis://, rediss:// or unix:// URL, or Redis Sentinel's form as Celery writes it:
    `sentinel://[:password@]host:26379[/db];sentinel://host2:26379;...` (the master's name: REDIS_SENTINEL_MASTER)."""
    url = raw(name, default)
    parts = [urlsplit(part) for part in url.split(";")]
    schemes = {part.scheme for part in parts}
    if len(parts) > 1 and schemes != {"sentinel"}:
        raise ConfigError(f"{name}: only sentinel:// addresses may be listed with ';'")
    if not schemes <= {"redis", "rediss", "unix", "sentinel"}:
        raise ConfigError(
            f"{name} must be a redis://, rediss:// or sentinel:// URL, got scheme {parts[0].scheme or 'none'!r}")
    dbs = set()
    for part in parts:
        try:
            port = part.port
        except ValueError:
            raise ConfigError(f"{name} has an invalid port") from None
        if part.scheme == "sentinel" and not (part.hostname and port):
            raise ConfigError(f"{name}: each sentinel:// address needs a host and a port (sentinel://host:26379)")
        db = part.path.lstrip("/")
        if db and not db.isdigit():
            raise ConfigError(f"{name} database number {db!r} is not an integer")
        if db:
            dbs.add(db)
    if len(dbs) > 1:
        raise ConfigError(f"{name} names different database numbers: {', '.join(sorted(dbs))}")
    return url


def sentinel_master(name: str, default: str) -> str:
    """The name Redis Sentinel monitors the master under (`sentinel monitor <name> ...`): one word."""
    value = (raw(name, default) or "").strip()
    if not value or any(char.isspace() for char in value):
        raise ConfigError(f"{name}={value!r} must be one word (the name in `sentinel monitor <name> ...`)")
    return value


def exit_on_config_error() -> None:
    """Load settings now; on a configuration error print one line and exit(2) instead of a traceback."""
    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces settings to load
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
