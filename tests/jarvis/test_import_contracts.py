"""The arrows between the apps go one way: the import-linter contracts in pyproject.toml hold (also checked by the
`lint-imports` step of `make test`)."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    names = {contract["name"] for contract in contracts}
    assert {
        "Trading knows no Telegram (telegram_app -> trading) and no assistant",
        "Telegram, monitoring and backups do not import the assistant (it queues by task name)",
        "Trading imports nothing of monitoring but monitoring.metrics",
        "monitoring.metrics imports no app",
        "Backups stand alone",
        "Product code never imports the stand-ins",
        "No import circles inside the apps",
    } <= names
    run = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = " ".join(run.stdout.split())  # long names wrap
    assert f"Contracts: {len(contracts)} kept, 0 broken." in report
    for name in names:
        assert f"{name} KEPT" in report
