"""deploy/k8s renders with `kubectl kustomize`, every object is valid for Kubernetes (kubernetes-validate's offline
schemas; KEDA's objects against tests/deploy/keda.py), and the manifests keep compose's promises: one beat, a consumer
and an autoscaler for every queue, one image, probes, a grace longer than the task limits, commands that exist."""

from __future__ import annotations

import copy
import importlib
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

from jarvis.celery import QUEUES, app, queue_for
from tests.deploy.keda import SCHEMAS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["small", "large"]
KUBERNETES_VERSION = "1.30"  # the oldest Kubernetes release the manifests are checked against
SECRET_MOUNT = "/run/secrets/jarvis"
ROLES = {"web", "bot", "prices", "beat", "flower", *(f"worker-{q}" for q in ("trades", "tpsl", "telegram", "backups", "default", "vibe"))}


def render(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests cannot be rendered here")
    out = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request) -> list[dict]:
    return render(request.param)


def of_kind(objects, kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def app_container(obj: dict) -> dict:
    (container,) = [c for c in pod_spec(obj)["containers"] if c["name"] == "app"]
    return container


def worker_queues(command: list[str]) -> set[str]:
    return set(command[command.index("-Q") + 1].split(",")) if "worker" in command and "-Q" in command else set()


def worker_name(command: list[str]) -> str:
    return command[command.index("-n") + 1].split("@")[0]


def validation_errors(obj: dict) -> list[str]:
    if obj["kind"] in SCHEMAS:
        validator = jsonschema.Draft202012Validator(SCHEMAS[obj["kind"]])
        return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    return []


def test_each_overlay_renders_to_objects_valid_for_kubernetes_and_keda(objects):
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "Job", "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication", "ConfigMap"} <= kinds
    assert set(of_kind(objects, "Deployment")) == ROLES
    for obj in objects:
        assert validation_errors(obj) == [], f"{obj['kind']} {obj['metadata']['name']}"
    for example in (K8S / "examples").glob("*.yaml"):  # the plain-HPA alternative (docs/scaling.md), the base backup
        for obj in yaml.safe_load_all(example.read_text()):
            assert validation_errors(obj) == [], example.name


def test_a_mistake_in_a_manifest_fails_validation():
    objects = render("small")
    deployment = copy.deepcopy(of_kind(objects, "Deployment")["worker-trades"])
    app_container(deployment)["livenessProbe"]["exec"]["comand"] = ["true"]
    assert validation_errors(deployment)
    deployment = copy.deepcopy(of_kind(objects, "Deployment")["web"])
    pod_spec(deployment)["terminationGracePeriodSeconds"] = "30s"
    assert validation_errors(deployment)
    scaled = copy.deepcopy(of_kind(objects, "ScaledObject")["worker-trades"])
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 20
    assert validation_errors(scaled)
    del scaled["spec"]["scaleTargetRef"]
    assert validation_errors(scaled)


def test_exactly_one_beat_stopped_before_the_next_starts(objects):
    beats = [name for name, obj in of_kind(objects, "Deployment").items() if "beat" in app_container(obj)["command"]]
    assert beats == ["beat"]
    beat = of_kind(objects, "Deployment")["beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "beat" not in {obj["spec"]["scaleTargetRef"]["name"] for obj in of_kind(objects, "ScaledObject").values()}
    bot = of_kind(objects, "Deployment")["bot"]
    assert bot["spec"]["replicas"] == 1 and bot["spec"]["strategy"] == {"type": "Recreate"}


def test_every_queue_has_a_consumer_and_each_worker_scales_on_its_queue(objects):
    deployments = of_kind(objects, "Deployment")
    consumed = {name: worker_queues(app_container(obj)["command"]) for name, obj in deployments.items()}
    assert set(QUEUES) <= set().union(*consumed.values())
    # exits never wait behind one worker: every trades consumer also sweeps, and two Deployments sweep
    assert all("tpsl" in queues for queues in consumed.values() if "trades" in queues)
    assert len([name for name, queues in consumed.items() if "tpsl" in queues]) >= 2
    scaled = {obj["spec"]["scaleTargetRef"]["name"]: obj for obj in of_kind(objects, "ScaledObject").values()}
    workers = {name for name, queues in consumed.items() if queues}
    assert set(scaled) == workers
    lists = set()
    for name, obj in scaled.items():
        assert obj["spec"]["minReplicaCount"] >= 1, f"{name} would scale to zero and stop its periodic work"
        assert obj["spec"]["maxReplicaCount"] >= obj["spec"]["minReplicaCount"]
        for trigger in obj["spec"]["triggers"]:
            assert trigger["type"] == "redis"
            assert trigger["metadata"]["listName"] in consumed[name], name
            assert trigger["authenticationRef"]["name"] in of_kind(objects, "TriggerAuthentication")
            lists.add(trigger["metadata"]["listName"])
        assert "replicas" not in deployments[name]["spec"], f"{name}: the ScaledObject owns the replica count"
    assert lists == set(QUEUES)


def test_one_image_for_every_container(objects):
    images = set()
    for obj in objects:
        if obj["kind"] in {"Deployment", "Job"}:
            spec = pod_spec(obj)
            images |= {c["image"] for c in spec["containers"] + spec.get("initContainers", [])}
    assert len(images) == 1, images
    assert re.fullmatch(r"[\w./-]+/jarvis:\d+\.\d+\.\d+-[0-9a-f]{12,}", images.pop())  # make image's version-commit tag


def test_every_role_has_probes_resources_and_a_disruption_budget(objects):
    budgets = of_kind(objects, "PodDisruptionBudget").values()
    for name, obj in of_kind(objects, "Deployment").items():
        container = app_container(obj)
        assert container.get("livenessProbe") and container.get("readinessProbe"), name
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"], name
        labels = obj["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, f"{name}: {len(covering)} disruption budgets"
        replicas = obj["spec"].get("replicas", 1)
        assert covering[0]["spec"].get("minAvailable", 0) < replicas, f"{name}: its budget blocks every eviction"
        command = container["command"]
        if worker_queues(command):  # a worker's probe pings this worker by the name it runs under
            for probe in ("livenessProbe", "readinessProbe"):
                words = shlex.split(container[probe]["exec"]["command"][-1])
                assert words[:5] == ["celery", "-A", "jarvis", "inspect", "ping"], name
                assert words[words.index("-d") + 1] == f"{worker_name(command)}@$HOSTNAME", name
    web = app_container(of_kind(objects, "Deployment")["web"])
    assert web["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/"
    assert web["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready/?components=postgres,redis"
    bot = app_container(of_kind(objects, "Deployment")["bot"])
    assert bot["livenessProbe"]["exec"]["command"] == ["python", "manage.py", "heartbeat_check", "bot"]
    prices = app_container(of_kind(objects, "Deployment")["prices"])
    assert prices["command"] == ["python", "manage.py", "run_prices"]
    assert prices["livenessProbe"]["exec"]["command"] == ["python", "manage.py", "heartbeat_check", "price_stream"]


def test_the_grace_period_outlasts_the_longest_task_of_each_workers_queues(objects):
    app.loader.import_default_modules()  # what a worker imports at start: every task module
    limits: dict[str, int] = {}
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        limit = task.time_limit or settings.CELERY_DEFAULT_TIME_LIMIT
        limits[queue_for(name)] = max(limits.get(queue_for(name), 0), limit)
    assert limits["trades"] >= app.tasks["trading.execute_order"].time_limit == 150
    for name, obj in of_kind(objects, "Deployment").items():
        queues = worker_queues(app_container(obj)["command"])
        if not queues:
            continue
        grace = pod_spec(obj)["terminationGracePeriodSeconds"]
        longest = max(limits.get(queue, settings.CELERY_DEFAULT_TIME_LIMIT) for queue in queues)
        assert grace > longest, f"{name}: grace {grace} s, a task of {queues} may run {longest} s"


def _commands(objects):
    for obj in objects:
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        spec = pod_spec(obj)
        for container in spec["containers"] + spec.get("initContainers", []):
            yield obj["metadata"]["name"], container["command"]
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if "exec" in container.get(probe, {}):
                    yield obj["metadata"]["name"], container[probe]["exec"]["command"]


def test_commands_name_modules_and_management_commands_that_exist(objects):
    known = set(get_commands())
    seen = set()
    for name, command in _commands(objects):
        lines = [command]
        if command[:2] == ["sh", "-c"]:
            lines = [shlex.split(part) for part in command[2].split("&&")]
        for words in lines:
            if words[0] == "gunicorn":
                module, _, attr = words[1].partition(":")
                assert hasattr(importlib.import_module(module), attr), name
                config = words[words.index("-c") + 1].removeprefix("python:")
                importlib.import_module(config)
            if words[0] == "celery":
                importlib.import_module(words[words.index("-A") + 1])
            if words[:2] == ["python", "manage.py"]:
                assert words[2] in known, f"{name}: manage.py {words[2]} does not exist"
                seen.add(words[2])
    assert {"migrate", "setup_periodic_tasks", "setup_operator_groups", "runbot", "heartbeat_check"} <= seen


def test_the_migration_job_migrates_and_sets_up_schedules_and_groups(objects):
    (job,) = of_kind(objects, "Job").values()
    command = app_container(job)["command"]
    steps = [shlex.split(part) for part in command[2].split("&&")]
    assert [s[2] for s in steps] == ["migrate", "setup_periodic_tasks", "setup_operator_groups"]
    for name, obj in of_kind(objects, "Deployment").items():  # and nothing starts on an unmigrated database
        init = pod_spec(obj)["initContainers"]
        assert [c["command"] for c in init] == [["python", "manage.py", "migrate", "--check"]], name


def test_the_base_backup_example_runs_base_backup_daily_one_at_a_time_with_the_desks_settings_and_secrets(objects):
    """deploy/k8s/examples/cronjob-base-backup.yaml (valid against the schemas above): point-in-time recovery's
    daily base backup, with what a Job of the overlay gets (its settings, the Secret's files, a writable BACKUP_DIR)."""
    (cron,) = yaml.safe_load_all((K8S / "examples" / "cronjob-base-backup.yaml").read_text())
    assert cron["kind"] == "CronJob" and cron["spec"]["schedule"] == "15 2 * * *"
    assert cron["spec"]["timeZone"] == "Etc/UTC" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"][:2] == ["python", "manage.py"] and container["command"][2] == "base_backup"
    assert "base_backup" in get_commands()
    (job,) = of_kind(objects, "Job").values()
    config = of_kind(objects, "ConfigMap")["jarvis-config"]["data"]
    assert container["envFrom"] == app_container(job)["envFrom"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[SECRET_MOUNT] == "secrets" and config["BACKUP_DIR"].startswith(next(p for p in mounts if p != SECRET_MOUNT))
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"] == "jarvis-secrets" and "emptyDir" in volumes[mounts["/var/run/jarvis"]]


def _settings_names() -> set[str]:
    text = "".join((ROOT / path).read_text() for path in ("jarvis/settings.py", "jarvis/config.py", "monitoring/metrics.py"))
    return set(re.findall(r'"([A-Z][A-Z0-9_]+)"', text))


def test_settings_exist_and_secrets_are_files_of_the_secret(objects):
    known = _settings_names()
    (config,) = of_kind(objects, "ConfigMap").values()
    for key, value in config["data"].items():
        if key.endswith("_FILE"):
            assert value.startswith(SECRET_MOUNT + "/"), key
            assert value.rsplit("/", 1)[1] == key.removesuffix("_FILE"), key
            key = key.removesuffix("_FILE")
        assert key in known, f"the ConfigMap sets {key}, which no setting reads"
    for secret in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "WALLET_ENCRYPTION_KEYS", "TELEGRAM_BOT_TOKEN", "METRICS_TOKEN"):
        assert f"{secret}_FILE" in config["data"] and secret not in config["data"], secret
    for obj in objects:
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        spec = pod_spec(obj)
        (volume,) = [v for v in spec["volumes"] if v["name"] == "secrets"]
        assert volume["secret"]["secretName"] == "jarvis-secrets"
        for container in spec["containers"] + spec.get("initContainers", []):
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert mounts[SECRET_MOUNT]["readOnly"] is True, obj["metadata"]["name"]
            assert {"configMapRef": {"name": "jarvis-config"}} in container["envFrom"]
            for variable in container.get("env", []):
                # a secret never sits in a manifest; Flower alone reads its own variable from the Secret
                assert "value" not in variable or variable["name"] == "WEB_CONCURRENCY", variable
                if "valueFrom" in variable:
                    assert variable["name"] == "FLOWER_BASIC_AUTH"


def test_workers_and_the_bot_are_scraped_in_their_own_pods_with_no_shared_volume(objects):
    (config,) = of_kind(objects, "ConfigMap").values()
    port = int(config["data"]["METRICS_PORT"])
    claims: dict[str, list[str]] = {}
    for name, obj in of_kind(objects, "Deployment").items():
        spec = pod_spec(obj)
        volumes = {v["name"]: v for v in spec["volumes"]}
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                claims.setdefault(volume["persistentVolumeClaim"]["claimName"], []).append(name)
        multiproc = config["data"]["PROMETHEUS_MULTIPROC_DIR"]
        (mount,) = [m for m in app_container(obj)["volumeMounts"] if multiproc.startswith(m["mountPath"] + "/")]
        assert volumes[mount["name"]] == {"name": mount["name"], "emptyDir": {}}, name
        if name == "bot" or worker_queues(app_container(obj)["command"]):
            annotations = obj["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true", name
            assert int(annotations["prometheus.io/port"]) == port, name
            assert annotations["prometheus.io/path"] == "/metrics", name
            assert port in {p["containerPort"] for p in app_container(obj)["ports"]}, name
    assert all(len(users) == 1 for users in claims.values()), claims
