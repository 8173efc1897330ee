"""Postgres' archive and restore commands without Django's start-up (a segment a second costs no more than that):

    archive_command = '/path/to/venv/bin/python /path/to/jarvis/backups/wal.py archive %p %f'
    restore_command = '/path/to/venv/bin/python /path/to/jarvis/backups/wal.py restore %f %p'

Postgres runs it with the data directory as working directory and its own environment, which must carry the desk's
backup settings (BACKUP_STORAGE, BACKUP_DIR or BACKUP_S3_*, BACKUP_ENCRYPTION_KEY[_FILE]) and SECRET_KEY, DATABASE_URL
as the settings require them. The settings are read, no app is loaded and no database is touched. Exit 0 on success; 1 with one sentence on stderr otherwise (for restore, also
when the archive has no such file, the normal end of recovery). `manage.py archive_wal` / `restore_wal` do the same.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script by Postgres: the project, not backups/ (whose selectors.py would shadow
    sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the standard library's), is where imports start


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jarvis.settings")
    from backups.errors import BackupError
    from backups.pitr import wal_archive, wal_fetch

    if len(argv) != 3 or argv[0] not in ("archive", "restore"):
        print("usage: wal.py archive %p %f | restore %f %p", file=sys.stderr)
        return 2
    try:
        if argv[0] == "archive":
            wal_archive(source=Path(argv[1]), name=argv[2])
        elif not wal_fetch(name=argv[1], dest=Path(argv[2])):
            print(f"{argv[1]} is not in the archive", file=sys.stderr)
            return 1
    except BackupError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
