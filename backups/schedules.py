"""Periodic backup work, registered by `manage.py setup_periodic_tasks`. Operators change the times in the admin
(Periodic tasks); the command keeps their edits unless run with --reset-schedules. Times are UTC."""

PERIODIC_TASKS = [
    {
        "name": "backups: hourly",
        "task": "backups.run",
        "crontab": {"minute": "5"},
        "kwargs": {"kind": "hourly"},
        "description": "Hourly backup of the database (kept: BACKUP_KEEP_HOURLY).",
    },
    {
        "name": "backups: daily",
        "task": "backups.run",
        "crontab": {"minute": "35", "hour": "3"},
        "kwargs": {"kind": "daily"},
        "description": "Daily backup, kept longer (BACKUP_KEEP_DAILY, and one a month for BACKUP_KEEP_MONTHLY months).",
    },
    {
        "name": "backups: verify newest",
        "task": "backups.verify",
        "crontab": {"minute": "25"},
        "description": "Restores the newest backup into a scratch database and checks the money tables against its manifest.",
    },
    {
        "name": "backups: prune",
        "task": "backups.prune",
        "crontab": {"minute": "50"},
        "description": "Deletes backups the retention policy no longer keeps (never the newest verified one).",
    },
]
