"""What `make run` does before it starts the desk: first-run secrets, the preflight sentence, the demo operator,
and a Procfile with every role (Flower persistent)."""

import io
import stat
import subprocess
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from dotenv import dotenv_values

from jarvis import bootstrap


def test_first_run_writes_a_private_env_once_and_never_overwrites_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bootstrap, "BASE_DIR", tmp_path)
    monkeypatch.delenv("JARVIS_ENV_FILE", raising=False)
    assert bootstrap.main() == 0
    env = (tmp_path / ".env").read_text()
    assert "SECRET_KEY=" in env and "WALLET_ENCRYPTION_KEYS=k1:" in env and "FLOWER_BASIC_AUTH=operator:" in env
    assert len(dotenv_values(tmp_path / ".env")["METRICS_TOKEN"]) == 64
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


def test_preflight_warns_when_redis_may_evict_the_brokers_keys(settings, db, second_redis):
    """A Redis that evicts under memory pressure can drop queued tasks: preflight says so (and still passes)."""
    import redis

    settings.REDIS_URL = second_redis.url
    quiet = io.StringIO()
    call_command("preflight", stdout=io.StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""  # redis-server's default policy is noeviction
    redis.Redis.from_url(second_redis.url).config_set("maxmemory-policy", "allkeys-lru")
    warned = io.StringIO()
    call_command("preflight", stdout=io.StringIO(), stderr=warned)
    assert "Redis evicts keys (maxmemory-policy allkeys-lru)" in warned.getvalue()
    assert "--maxmemory-policy noeviction" in warned.getvalue()


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
    assert {"web", "worker-trades", "worker-ops", "worker-vibe", "beat", "flower", "prices"} <= set(lines)
    assert lines["prices"].endswith("manage.py run_prices")
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


def test_an_env_written_before_metrics_had_a_token_gets_one_and_keeps_the_rest(tmp_path, monkeypatch, capsys):
    env_file = tmp_path / "desk.env"
    env_file.write_text("SECRET_KEY=kept\nTRADING_MODE=paper")
    monkeypatch.setattr(bootstrap, "BASE_DIR", tmp_path)
    monkeypatch.setenv("JARVIS_ENV_FILE", str(env_file))
    assert bootstrap.main() == 0
    values = dotenv_values(env_file)
    assert values["SECRET_KEY"] == "kept" and values["TRADING_MODE"] == "paper" and len(values["METRICS_TOKEN"]) == 64
    assert capsys.readouterr().out == f"Added a METRICS_TOKEN to {env_file}.\n"
    bootstrap.main()
    assert dotenv_values(env_file) == values and capsys.readouterr().out == ""


def test_the_banner_prints_a_metrics_scrape_that_works_without_showing_the_token(tmp_path, monkeypatch, settings,
                                                                                  live_server):
    """The printed command, run as printed by a shell, gets the metrics from a running web server."""
    monkeypatch.setattr(bootstrap, "BASE_DIR", tmp_path)
    monkeypatch.setenv("JARVIS_ENV_FILE", str(tmp_path / ".env"))
    bootstrap.main()
    settings.DOTENV_FILE = tmp_path / ".env"
    settings.METRICS_TOKEN = dotenv_values(tmp_path / ".env")["METRICS_TOKEN"]
    out = io.StringIO()
    call_command("desk_urls", "--port", str(urlsplit(live_server.url).port), stdout=out)
    line = next(line for line in out.getvalue().splitlines() if line.strip().startswith("metrics"))
    assert settings.METRICS_TOKEN not in out.getvalue()
    command = line.split("metrics", 1)[1].strip()
    assert command.startswith("curl ")
    scraped = subprocess.run(["bash", "-c", command.replace("curl ", "curl -sf ", 1)], capture_output=True, text=True)
    assert scraped.returncode == 0, scraped.stderr
    assert "# TYPE" in scraped.stdout and "jarvis_" in scraped.stdout
    refused = subprocess.run(["bash", "-c", f"curl -s -o /dev/null -w '%{{http_code}}' {live_server.url}/metrics"],
                             capture_output=True, text=True)
    assert refused.stdout == "401"

    settings.METRICS_TOKEN = None
    out = io.StringIO()
    call_command("desk_urls", stdout=out)
    assert "set METRICS_TOKEN to scrape http://127.0.0.1:8000/metrics" in out.getvalue()
