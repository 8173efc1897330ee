"""PostgreSQL: consistent dumps (`pg_dump -Fc` on an exported snapshot), restores, scratch databases, manifests.

The manifest is computed inside the very transaction whose snapshot pg_dump uses (`--snapshot`), so the row counts and
checksums describe exactly the rows in the file even while trades are being written. Passwords reach the client tools
through the environment (PGPASSWORD), never the command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from django.conf import settings
from psycopg2 import sql

from backups.errors import BackupError
from backups.manifest import money_tables

# Fixed output formats so a row renders to the same text in the original and in a restored copy.
_SESSION_SETUP = (
    "SET TIME ZONE 'UTC'",
    "SET datestyle = 'ISO, MDY'",
    "SET intervalstyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)


@dataclass(frozen=True)
class PgTarget:
    name: str
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = ""

    @classmethod
    def from_django(cls, config: dict) -> PgTarget:
        return cls(
            name=config["NAME"],
            host=str(config.get("HOST") or ""),
            port=str(config.get("PORT") or ""),
            user=str(config.get("USER") or ""),
            password=str(config.get("PASSWORD") or ""),
        )

    def with_name(self, name: str) -> PgTarget:
        return PgTarget(name=name, host=self.host, port=self.port, user=self.user, password=self.password)

    def connect(self):
        params = {"dbname": self.name, "connect_timeout": 10, "application_name": "jarvis-backups"}
        params.update({key: value for key, value in (("host", self.host), ("port", self.port), ("user", self.user),
                                                      ("password", self.password)) if value})
        return psycopg2.connect(**params)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var, value in (("PGHOST", self.host), ("PGPORT", self.port), ("PGUSER", self.user), ("PGPASSWORD", self.password)):
            if value:
                env[var] = value
        env["PGDATABASE"] = self.name
        env["PGCONNECT_TIMEOUT"] = "10"
        return env


def pg_bin(tool: str) -> str:
    """Path of a PostgreSQL client tool: PG_BIN_DIR, else the newest /usr/lib/postgresql/<n>/bin, else PATH."""
    directory = getattr(settings, "PG_BIN_DIR", None)
    candidates = [Path(directory)] if directory else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if (folder / tool).is_file():
            return str(folder / tool)
    found = shutil.which(tool)
    if found and not directory:
        return found
    raise BackupError(f"{tool} was not found (looked in {directory or 'PATH and /usr/lib/postgresql/*/bin'}); set PG_BIN_DIR")


def _table_names(cursor) -> list[str]:
    cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    return [row[0] for row in cursor.fetchall()]


def manifest_compute(cursor) -> dict:
    """Counts and order-independent checksums of the money tables, as seen by ``cursor``'s transaction."""
    for statement in _SESSION_SETUP:
        cursor.execute(statement)
    tables = {}
    for table in money_tables(_table_names(cursor)):
        cursor.execute(
            sql.SQL("SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) FROM {} AS t").format(
                sql.Identifier(table)
            )
        )
        rows, checksum = cursor.fetchone()
        tables[table] = {"rows": int(rows), "checksum": str(checksum)}
    return {"engine": "postgresql", "checksum": "sum(hashtextextended(row::text, 0))", "tables": tables}


def manifest_of(target: PgTarget) -> dict:
    connection = target.connect()
    try:
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with connection.cursor() as cursor:
            return manifest_compute(cursor)
    finally:
        connection.rollback()
        connection.close()


def _run_failed(tool: str, process_stderr: str, returncode: int) -> BackupError:
    tail = process_stderr.strip().splitlines()[-3:]
    return BackupError(f"{tool} failed (exit {returncode}): {' / '.join(tail) or 'no message'}")


def dump(*, target: PgTarget, dest: Path, compress_level: int, timeout: float) -> dict:
    """Write a custom-format dump of ``target`` to ``dest`` and return the manifest of the same snapshot.

    The checksum queries run in the exporting transaction while pg_dump copies the data in its own process, so on a
    machine with two cores the manifest costs little wall time. The transaction stays open until pg_dump exits.
    """
    connection = target.connect()
    try:
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            command = [pg_bin("pg_dump"), "--format=custom", f"--compress={compress_level}", "--no-password",
                       f"--snapshot={snapshot}", f"--file={dest}", target.name]
            with open(os.devnull, "rb") as stdin:
                process = subprocess.Popen(command, env=target.env(), stdin=stdin, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, text=True)
            try:
                manifest = manifest_compute(cursor)
                _, stderr = process.communicate(timeout=timeout)
            except BaseException:
                process.kill()
                process.communicate()
                raise
        if process.returncode != 0:
            raise _run_failed("pg_dump", stderr, process.returncode)
        return manifest
    finally:
        connection.rollback()
        connection.close()


def restore(*, target: PgTarget, source: Path, clean: bool, jobs: int, timeout: float) -> None:
    """pg_restore ``source`` into ``target``. ``clean`` replaces existing objects in one transaction (all or nothing);
    otherwise the database is assumed empty and the restore runs ``jobs`` in parallel."""
    command = [pg_bin("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--no-password",
               f"--dbname={target.name}"]
    command += ["--clean", "--if-exists", "--single-transaction"] if clean else [f"--jobs={max(1, jobs)}"]
    command.append(str(source))
    completed = subprocess.run(command, env=target.env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout, check=False)
    if completed.returncode != 0:
        raise _run_failed("pg_restore", completed.stderr, completed.returncode)


def archive_list(*, source: Path, timeout: float) -> str:
    """The archive's table of contents (`pg_restore --list`): proves the file is a readable custom-format dump."""
    completed = subprocess.run([pg_bin("pg_restore"), "--list", str(source)], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=timeout, check=False)
    if completed.returncode != 0:
        raise _run_failed("pg_restore --list", completed.stderr, completed.returncode)
    return completed.stdout


def _server_statement(target: PgTarget, statement: sql.Composable) -> None:
    connection = target.connect()
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def database_create(*, target: PgTarget, name: str) -> PgTarget:
    _server_statement(target, sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return target.with_name(name)


def database_drop(*, target: PgTarget, name: str) -> None:
    _server_statement(target, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
