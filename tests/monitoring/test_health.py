import pytest


def test_liveness_answers_without_touching_the_database(client, settings):
    # No django_db mark: any database access in the view raises, so answering proves none happened.
    response = client.get("/api/v1/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == settings.VERSION
    assert body["time"].endswith("+00:00")
    assert response["X-Request-ID"]


def test_liveness_needs_no_credentials_even_with_a_bad_session_cookie(client):
    client.cookies["sessionid"] = "garbage"
    assert client.get("/api/v1/health/").status_code == 200


@pytest.mark.django_db
def test_api_docs_and_schema_are_served(admin_client):
    assert admin_client.get("/api/schema/").status_code == 200
    assert admin_client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_unknown_api_error_is_json_with_a_stable_code(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in {"not_authenticated", "permission_denied"}


def test_health_probes_are_answered_before_host_checks_and_sessions(client, settings):
    from django.urls import reverse

    from monitoring.middleware import LIVENESS_PATH

    assert reverse("health-live") == LIVENESS_PATH
    settings.ALLOWED_HOSTS = ["desk.example.com"]
    response = client.get(LIVENESS_PATH, HTTP_HOST="10.0.0.7:8000")  # a probe addressing the pod by IP
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert client.head(LIVENESS_PATH, HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.post(LIVENESS_PATH, HTTP_HOST="10.0.0.7:8000").status_code == 400  # only GET/HEAD short-cut
