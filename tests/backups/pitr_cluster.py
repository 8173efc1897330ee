"""A scratch Postgres cluster for point-in-time recovery drills: initdb on a spare port under a temporary directory,
archiving every WAL file through `manage.py archive_wal`. Used by the tests and bench/backup.py.

Postgres never runs as root: when the drill runs as root, the cluster and the commands Postgres runs (archive and
restore) run as the `postgres` user, with the right to read (not write) the project's files wherever they live.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

from backups import pg
from backups.pitr import wal_command

ROOT = Path(__file__).resolve().parent.parent.parent
MANAGE = ROOT / "manage.py"


def _spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ScratchCluster:
    def __init__(self, *, archive_timeout: int = 60, env: dict[str, str] | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="jarvis-pitr-"))
        self.root.chmod(0o755)
        self.owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.owner:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self.port = _spare_port()
        self.data = self.root / "data"
        self.store = self.root / "store"
        self.archive_timeout = archive_timeout
        self.env = {**os.environ, **(env or {}), "BACKUP_STORAGE": "local", "BACKUP_DIR": str(self.store),
                    "BACKUP_STAGING_DIR": str(self.root / "staging"), "JARVIS_VAR_DIR": str(self.root / "var"),
                    "JARVIS_IGNORE_DOTENV": "true", "LOG_LEVEL": "warning", "BACKUP_TIMEOUT_SECONDS": "120",
                    "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.port}/postgres"}

    def command(self, args: list[str]) -> list[str]:
        if self.owner is None:
            return args
        return ["setpriv", f"--reuid={self.owner.pw_uid}", f"--regid={self.owner.pw_gid}", "--init-groups",
                "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *args]

    def run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        completed = subprocess.run(self.command(args), env=self.env, cwd=self.root, stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, check=False)
        if check and completed.returncode != 0:
            raise AssertionError(f"{args[:3]} failed ({completed.returncode}): {completed.stdout}{completed.stderr}")
        return completed

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run([sys.executable, str(MANAGE), *args], check=check)

    def init(self) -> None:
        self.run([pg.pg_bin("initdb"), "--pgdata", str(self.data), "--username=postgres", "--auth=trust",
                  "--no-sync", "--encoding=UTF8", "--locale=C"])
        archive = wal_command("archive")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                       f"archive_mode = on\narchive_command = '{archive}'\narchive_timeout = {self.archive_timeout}\n"
                       "wal_level = replica\nmax_wal_senders = 4\nshared_buffers = 32MB\n")

    def start(self) -> None:
        self.run([pg.pg_bin("pg_ctl"), "--pgdata", str(self.data), "--log", str(self.root / "server.log"), "--wait",
                  "start"])

    def stop(self, mode: str = "fast", data: Path | None = None) -> None:
        self.run([pg.pg_bin("pg_ctl"), "--pgdata", str(data or self.data), f"--mode={mode}", "--wait", "stop"],
                 check=False)

    def connect(self):
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                      connect_timeout=10)
        connection.autocommit = True
        return connection

    def sql(self, query: str, params=None):
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetchall() if cursor.description else None
        finally:
            connection.close()

    def switch_and_wait_archived(self) -> str:
        """Close the current WAL segment and wait until the archiver stored it; returns its name."""
        (segment,) = self.sql("SELECT pg_walfile_name(pg_switch_wal())")[0]
        while True:
            archived, failed, failed_count = self.sql(
                "SELECT last_archived_wal, last_failed_wal, failed_count FROM pg_stat_archiver")[0]
            if archived is not None and archived[:24] >= segment:
                return segment
            if failed_count:
                log = (self.root / "server.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"archive_command failed on {failed}: {log}")
            time.sleep(0.05)

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.data)

    def cleanup(self, *data_dirs: Path) -> None:
        for data in (self.data, *data_dirs):
            if (data / "postmaster.pid").exists():
                self.stop(mode="immediate", data=data)
        shutil.rmtree(self.root, ignore_errors=True)

    # Type -> value for NOT NULL columns a drill does not set itself, so new model fields do not break it.
    FILL = {"bigint": "0", "integer": "0", "smallint": "0", "numeric": "0", "boolean": "false", "text": "''",
            "character varying": "''", "timestamp with time zone": "now()", "jsonb": "'{}'::jsonb",
            "uuid": "gen_random_uuid()", "bytea": "''::bytea", "date": "current_date"}

    def insert(self, table: str, values: dict[str, str]) -> int:
        """One row into ``table`` of the project's schema: ``values`` (SQL expressions) plus a filler for every other
        NOT NULL column without a default. Returns its id."""
        columns = dict(values)
        for name, data_type in self.sql(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND "
                "table_name = %s AND is_nullable = 'NO' AND column_default IS NULL AND column_name <> 'id'", [table]):
            columns.setdefault(name, self.FILL[data_type])
        statement = (f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - test-only SQL, fixed identifiers
                     f"VALUES ({', '.join(columns.values())}) RETURNING id")
        return self.sql(statement)[0][0]
