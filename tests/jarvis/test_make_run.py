"""What `make run` does before it starts the desk: first-run secrets, the preflight sentence, the demo operator,
and a Procfile with every role (Flower persistent)."""

import io
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from jarvis import bootstrap


def test_first_run_writes_a_private_env_once_and_never_overwrites_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bootstrap, "BASE_DIR", tmp_path)
    assert bootstrap.main() == 0
    env = (tmp_path / ".env").read_text()
    assert "SECRET_KEY=" in env and "WALLET_ENCRYPTION_KEYS=k1:" in env and "FLOWER_BASIC_AUTH=operator:" in env
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert "Flower login (shown once): operator / " in capsys.readouterr().out
    assert bootstrap.main() == 0
    assert (tmp_path / ".env").read_text() == env and capsys.readouterr().out == ""


def test_preflight_says_in_one_sentence_that_redis_is_missing(settings, db):
    call_command("preflight", stdout=io.StringIO())
    settings.REDIS_URL = "redis://:secret@127.0.0.1:1/0"
    with pytest.raises(CommandError) as failed:
        call_command("preflight", stdout=io.StringIO())
    message = str(failed.value)
    assert message.startswith("Redis is not reachable at 127.0.0.1:1/0") and "secret" not in message
    assert "\n" not in message


def test_demo_operator_is_created_once_and_its_password_shown_once(db):
    first, second = io.StringIO(), io.StringIO()
    call_command("create_demo_operator", stdout=first)
    call_command("create_demo_operator", stdout=second)
    password = first.getvalue().strip().rsplit(" / ", 1)[1]
    user = get_user_model().objects.get(username="operator")
    assert user.is_superuser and user.check_password(password)
    assert password not in second.getvalue() and "exists" in second.getvalue()


def test_the_procfile_starts_every_role_with_a_persistent_flower(settings):
    from jarvis.procs import procfile_lines

    lines = procfile_lines(port=8123)
    assert {"web", "worker-trades", "worker-ops", "worker-vibe", "beat", "flower"} <= set(lines)
    assert "--bind 127.0.0.1:8123" in lines["web"]
    assert "--persistent=True" in lines["flower"] and "flower.db" in lines["flower"]
    queues = set()
    for name in ("worker-trades", "worker-ops", "worker-vibe"):
        queues |= set(lines[name].split(" -Q ")[1].split()[0].split(","))
    assert queues == {"trades", "tpsl", "telegram", "backups", "default", "vibe"}


def test_make_run_prints_where_the_screens_are(settings):
    settings.FLOWER_URL = "http://127.0.0.1:5555"
    out = io.StringIO()
    call_command("desk_urls", "--port", "8123", stdout=out)
    text = out.getvalue()
    for url in ("http://127.0.0.1:8123/admin/", "http://127.0.0.1:8123/api/v1/health/", "http://127.0.0.1:8123/api/docs/",
                "http://127.0.0.1:5555/"):
        assert url in text
