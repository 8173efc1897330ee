"""docker-compose.yml cannot run here (no Docker engine), so a test reads it and checks what it promises."""

import importlib
import shlex
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

from jarvis.celery import QUEUES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _command(service: dict) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else list(command)


def _queues(command: list[str]) -> set[str]:
    if "worker" not in command:
        return set()
    for flag in ("-Q", "--queues"):
        if flag in command:
            return set(command[command.index(flag) + 1].split(","))
    return set()


def test_every_queue_has_a_consumer_service(compose):
    consumed = set()
    for service in compose["services"].values():
        consumed |= _queues(_command(service))
    assert set(QUEUES) <= consumed, f"queues without a worker service: {set(QUEUES) - consumed}"


def test_exits_never_wait_behind_one_worker(compose):
    """Every service that executes trades also sweeps, tpsl has two services, and so has the local desk."""
    from jarvis.procs import LOCAL_WORKERS

    services = {name: _queues(_command(svc)) for name, svc in compose["services"].items()}
    assert all("tpsl" in queues for queues in services.values() if "trades" in queues), services
    assert len([name for name, queues in services.items() if "tpsl" in queues]) >= 2, services
    local = list(LOCAL_WORKERS.values())
    assert all("tpsl" in queues for queues in local if "trades" in queues), LOCAL_WORKERS
    assert len([queues for queues in local if {"trades", "tpsl"} <= set(queues)]) >= 2, LOCAL_WORKERS


def test_exactly_one_active_scheduler_enforced_by_the_lock(compose):
    """One beat service; its replicas (a holder and a standby) share the scheduler lock, as no beat command overrides
    the scheduler (`-S`). tests/jarvis/test_beat_failover.py shows two beats never both send."""
    from jarvis.celery import app

    beats = [name for name, svc in compose["services"].items() if "beat" in _command(svc)]
    assert beats == ["beat"]
    assert compose["services"]["beat"].get("deploy", {}).get("replicas", 1) >= 2
    assert app.conf.beat_scheduler == "jarvis.beat:LeasedScheduler"
    command = _command(compose["services"]["beat"])
    assert not {"-S", "--scheduler"} & set(command) and not any(word.startswith("--scheduler=") for word in command)


def test_commands_name_modules_and_management_commands_that_exist(compose):
    known_commands = set(get_commands())
    for name, service in compose["services"].items():
        command = _command(service)
        if not command:
            continue
        if command[0] == "gunicorn":
            module, _, attr = command[1].partition(":")
            assert hasattr(importlib.import_module(module), attr), name
        if "-A" in command:
            importlib.import_module(command[command.index("-A") + 1])
        if command[:2] == ["python", "manage.py"]:
            assert command[2] in known_commands, f"{name}: manage.py {command[2]} does not exist"
        if command[0] == "sh":
            for part in command[2].split("&&"):
                words = part.split()
                if words[:2] == ["python", "manage.py"]:
                    assert words[2] in known_commands, f"{name}: manage.py {words[2]} does not exist"


def test_redis_never_evicts_and_persists(compose):
    command = _command(compose["services"]["redis"])
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--appendonly") + 1] == "yes"


def test_workers_have_health_checks_restart_and_a_warm_shutdown_grace(compose):
    for name, service in compose["services"].items():
        if not _queues(_command(service)):
            continue
        assert service["restart"] == "unless-stopped", name
        assert "healthcheck" in service, name
        grace = int(service["stop_grace_period"].rstrip("s"))
        assert grace >= 90, f"{name}: stop grace {grace}s is shorter than the task hard time limit"


def test_flower_requires_basic_auth(compose):
    assert "FLOWER_BASIC_AUTH" in compose["services"]["flower"]["environment"]


def test_one_image_for_all_python_roles(compose):
    images = {svc.get("image") for name, svc in compose["services"].items() if name not in {"postgres", "redis"}}
    assert images == {"jarvis:latest"}


def test_the_prices_role_has_its_service(compose):
    (prices,) = [name for name, svc in compose["services"].items() if _command(svc)[-1:] == ["run_prices"]]
    assert prices == "prices" and _command(compose["services"]["prices"]) == ["python", "manage.py", "run_prices"]


def test_no_volume_is_shared_between_services_and_workers_and_the_bot_serve_metrics(compose):
    """Metrics merge inside one container only: each worker and the bot serve their own on METRICS_PORT."""
    mounts: dict[str, list[str]] = {}
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            mounts.setdefault(volume.split(":")[0], []).append(name)
    shared = {volume: names for volume, names in mounts.items() if len(names) > 1}
    assert not shared, f"volumes shared between services: {shared}"
    servers = [name for name, svc in compose["services"].items() if _queues(_command(svc)) or name == "bot"]
    assert len(servers) == 7, servers
    for name in servers:
        assert int(compose["services"][name]["environment"]["METRICS_PORT"]) > 0, name
    probe = compose["services"]["bot"]["healthcheck"]["test"]
    assert probe[1:4] == ["python", "manage.py", "heartbeat_check"] and probe[4] == "bot"
    assert "heartbeat_check" in get_commands()
