import pytest
from django.contrib.auth import get_user_model

from jarvis.celery import QUEUES
from monitoring.checks import readiness_cache_clear
from monitoring.heartbeats import redis_for, worker_beat
from monitoring.services import heartbeat_record
from tests.conftest import wait_for

URL = "/api/v1/health/ready/"


def _all_alive(redis_url: str) -> None:
    for component in ("beat", "bot", "price_feed"):
        heartbeat_record(component=component)
    worker_beat(redis_for(redis_url), worker="w1@test", queues=list(QUEUES), rss={1: 1024})


@pytest.fixture
def staff_client(client, db, fast_passwords):
    user = get_user_model().objects.create_user("ops", password="a-long-test-password", is_staff=True)
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
def test_ready_when_every_component_is_up_with_details_for_staff(staff_client, readiness_settings, clean_redis):
    _all_alive(readiness_settings.REDIS_URL)
    response = staff_client.get(URL)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready"
    expected = {"postgres", "redis", "beat", "bot", "price_feed", "workers", "mode", *(f"queue:{q}" for q in QUEUES)}
    assert set(body["components"]) == expected
    for result in body["components"].values():
        assert result["status"] == "up"
        assert result["latency_ms"] >= 0
        assert result["detail"]


@pytest.mark.django_db
def test_anonymous_gets_the_bare_status_and_the_token_unlocks_detail(client, readiness_settings, clean_redis):
    readiness_settings.MONITORING_READINESS_TOKEN = "uptime-token-123"
    heartbeat_record(component="beat")  # bot, price feed and the queues have no heartbeat: not ready
    response = client.get(URL)
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready"}

    assert client.get(URL, {"token": "wrong"}).json() == {"status": "not_ready"}
    detailed = client.get(URL, {"token": "uptime-token-123"})
    assert detailed.status_code == 503
    components = detailed.json()["components"]
    assert components["beat"]["status"] == "up"
    assert components["bot"] == {**components["bot"], "status": "down", "detail": "bot has never sent a heartbeat"}


@pytest.mark.django_db
def test_a_stale_beat_fails_readiness_after_three_intervals(client, readiness_settings, clean_redis):
    readiness_settings.MONITORING_READINESS_TOKEN = "t"
    _all_alive(readiness_settings.REDIS_URL)
    from monitoring.heartbeats import heartbeat_write
    import time

    heartbeat_write(clean_redis, component="beat", now=time.time() - 3 * readiness_settings.MONITORING_BEAT_INTERVAL_SECONDS - 5)
    body = client.get(URL, {"token": "t"}).json()
    assert body["status"] == "not_ready"
    assert body["components"]["beat"]["status"] == "down"
    assert "limit 30 s" in body["components"]["beat"]["detail"]
    assert all(v["status"] == "up" for k, v in body["components"].items() if k != "beat")


@pytest.mark.django_db
def test_the_answer_is_cached_for_the_configured_time(client, readiness_settings, clean_redis):
    readiness_settings.MONITORING_READINESS_TOKEN = "t"
    readiness_settings.MONITORING_READINESS_CACHE_SECONDS = 60
    first = client.get(URL, {"token": "t"}).json()
    _all_alive(readiness_settings.REDIS_URL)
    second = client.get(URL, {"token": "t"}).json()
    assert second == first  # the same report, though every heartbeat changed
    readiness_cache_clear()
    assert client.get(URL, {"token": "t"}).json()["checked_at"] != first["checked_at"]


@pytest.mark.django_db
def test_a_queue_without_a_worker_fails_readiness_naming_it(
    client, readiness_settings, second_redis, worker_process
):
    """A real worker process consumes every queue but `backups`; its heartbeats go to its own broker."""
    readiness_settings.MONITORING_READINESS_TOKEN = "t"
    readiness_settings.REDIS_URL = second_redis.url
    readiness_settings.MONITORING_READINESS_SKIP = ["bot", "price_feed", "beat"]
    worker_process(queues=[q for q in QUEUES if q != "backups"], redis_url=second_redis.url)

    def report():
        body = client.get(URL, {"token": "t"}).json()
        return body if body["components"]["queue:trades"]["status"] == "up" else None

    body = wait_for(report, timeout=60, interval=0.2, message="the worker's first heartbeat")
    assert body["status"] == "not_ready"
    down = {name: result["detail"] for name, result in body["components"].items() if result["status"] == "down"}
    assert list(down) == ["queue:backups"]
    assert "no live worker consumes queue 'backups'" in down["queue:backups"]
    assert client.get(URL).status_code == 503


@pytest.mark.django_db
def test_readiness_with_redis_stopped_or_hung_answers_503_naming_redis(client, readiness_settings, second_redis):
    readiness_settings.MONITORING_READINESS_TOKEN = "t"
    readiness_settings.REDIS_URL = second_redis.url
    readiness_settings.MONITORING_READINESS_SKIP = ["bot", "price_feed", "beat", *(f"queue:{q}" for q in QUEUES)]
    readiness_settings.MONITORING_CHECK_TIMEOUT_SECONDS = 0.5  # the hung Redis costs this long
    assert client.get(URL, {"token": "t"}).status_code == 200

    second_redis.pause()  # accepts connections, answers nothing: the check's own timeout must end it
    try:
        response = client.get(URL, {"token": "t"})
    finally:
        second_redis.resume()
    assert response.status_code == 503
    redis_result = response.json()["components"]["redis"]
    assert redis_result["status"] == "down"
    assert "Timeout" in redis_result["detail"] or "no answer within 0.5 s" in redis_result["detail"]
    assert response.json()["components"]["postgres"]["status"] == "up"

    second_redis.stop()
    response = client.get(URL, {"token": "t"})
    assert response.status_code == 503
    assert response.json()["components"]["redis"]["status"] == "down"
    assert "ConnectionError" in response.json()["components"]["redis"]["detail"]
    assert client.get(URL).json() == {"status": "not_ready"}


@pytest.mark.django_db
def test_a_just_expired_report_is_served_while_one_refresh_runs(client, readiness_settings, clean_redis):
    import time

    readiness_settings.MONITORING_READINESS_TOKEN = "t"
    readiness_settings.MONITORING_READINESS_CACHE_SECONDS = 0.2
    first = client.get(URL, {"token": "t"}).json()
    assert first["status"] == "not_ready"
    _all_alive(readiness_settings.REDIS_URL)
    time.sleep(0.25)  # expire the cache (the one place a wait is the behaviour under test)
    assert client.get(URL, {"token": "t"}).json() == first  # stale answer, refresh started behind it
    wait_for(lambda: client.get(URL, {"token": "t"}).json()["status"] == "ready", message="the background refresh")


@pytest.mark.django_db(transaction=True)  # the checks run in their own threads and connections
def test_price_feed_readiness_and_the_stale_prices_alert_follow_the_held_tokens(
    client, readiness_settings, clean_redis, make_trader, make_token
):
    import time
    from decimal import Decimal

    from monitoring.alerts import alert_rule_create, alerts_evaluate
    from monitoring.models import AlertEvent, AlertRule
    from trading.models import Position
    from trading.prices import PricePoint, prices_store

    readiness_settings.MONITORING_READINESS_TOKEN = "t"

    def price_feed():
        return client.get(URL, {"token": "t"}).json()["components"]["price_feed"]

    first = price_feed()
    assert (first["status"], first["detail"]) == ("up", "no open positions need a price")
    token = make_token("POPCAT")
    Position.objects.create(trader=make_trader("held"), token=token, mode="paper", status="open", size=10,
                            original_size=10, cost_lamports=1000)
    AlertRule.objects.all().delete()
    alert_rule_create(name="stale", metric="prices_stale", threshold=30)

    assert price_feed()["status"] == "down"
    assert "1 of 1 held tokens have no price fresher than 30 s" in price_feed()["detail"]
    prices_store({token.mint: PricePoint(Decimal("0.001"), time.time() - 120, "test")})
    assert price_feed()["status"] == "down"
    assert alerts_evaluate()["fired"] == 1
    assert AlertEvent.objects.get().value == Decimal(120)

    prices_store({token.mint: PricePoint(Decimal("0.001"), time.time(), "test")})
    assert price_feed()["status"] == "up"
    assert price_feed()["detail"].startswith("1 held tokens priced, oldest")
    assert alerts_evaluate()["resolved"] == 1


@pytest.fixture
def rpc_standin():
    """A JSON-RPC endpoint answering getHealth the way a Solana node does (healthy or behind)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    state = {"healthy": True}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if state["healthy"]:
                body = {"jsonrpc": "2.0", "id": request["id"], "result": "ok"}
            else:
                body = {"jsonrpc": "2.0", "id": request["id"],
                        "error": {"code": -32005, "message": "Node is behind by 42 slots"}}
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_in_live_mode_readiness_asks_the_solana_rpc_for_its_health(client, readiness_settings, clean_redis, rpc_standin):
    url, state = rpc_standin
    readiness_settings.MONITORING_READINESS_TOKEN = "t"
    readiness_settings.TRADING_MODE = "live"
    readiness_settings.SOLANA_RPC_URL = url
    rpc = client.get(URL, {"token": "t"}).json()["components"]["solana_rpc"]
    assert (rpc["status"], rpc["detail"]) == ("up", "getHealth ok")
    state["healthy"] = False
    rpc = client.get(URL, {"token": "t"}).json()["components"]["solana_rpc"]
    assert rpc["status"] == "down" and "Node is behind by 42 slots" in rpc["detail"]
    readiness_settings.TRADING_MODE = "paper"
    assert "solana_rpc" not in client.get(URL, {"token": "t"}).json()["components"]
