"""First-run set-up for a local desk: writes .env with fresh secrets when it does not exist yet.

Run as ``python jarvis/bootstrap.py`` (``make run`` does; a script path, so it needs no settings). It never overwrites
an existing .env and prints the operator-facing credentials once, on the run that creates them; to a .env written
before the desk had a METRICS_TOKEN it adds one. The file is JARVIS_ENV_FILE when set, as in jarvis.config.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _fresh_env() -> tuple[str, str]:
    flower_password = secrets.token_urlsafe(12)
    wallet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    body = "\n".join(
        [
            "# Written by `make run` on first start. Local demo only: keep it out of version control.",
            f"SECRET_KEY={secrets.token_urlsafe(48)}",
            "DEBUG=false",
            "TRADING_MODE=paper",
            "ALLOWED_HOSTS=localhost,127.0.0.1",
            f"WALLET_ENCRYPTION_KEYS=k1:{wallet_key}",
            f"FLOWER_BASIC_AUTH=operator:{flower_password}",
            _metrics_line(),
            "LOG_FORMAT=text",
            "",
        ]
    )
    return body, flower_password


def _metrics_line() -> str:
    """The bearer token of /metrics (`manage.py desk_urls` prints how to scrape with it)."""
    return f"METRICS_TOKEN={secrets.token_hex(32)}"


def main() -> int:
    env_file = Path(os.environ.get("JARVIS_ENV_FILE") or BASE_DIR / ".env")
    (BASE_DIR / "var").mkdir(exist_ok=True)
    if env_file.exists():
        body = env_file.read_text()
        if not any(line.startswith("METRICS_TOKEN=") for line in body.splitlines()):
            env_file.write_text(body + ("" if body.endswith("\n") or not body else "\n") + _metrics_line() + "\n")
            print(f"Added a METRICS_TOKEN to {env_file}.")
        return 0
    body, flower_password = _fresh_env()
    env_file.write_text(body)
    env_file.chmod(0o600)
    print(f"Wrote {env_file} with fresh local secrets.")
    print(f"Flower login (shown once): operator / {flower_password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
