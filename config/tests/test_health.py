import pytest
from django.urls import reverse

from config import views
from config.celery import app as celery_app


@pytest.fixture
def worker_pings(monkeypatch):
    """Count the Celery pings /readyz sends (each still goes to the real broker), starting afresh."""
    monkeypatch.setitem(views._worker_ping, "at", float("-inf"))
    calls = []
    real_ping = celery_app.control.ping

    def ping(**kwargs):
        calls.append(kwargs)
        return real_ping(**kwargs)

    monkeypatch.setattr(celery_app.control, "ping", ping)
    return calls


def test_healthz_answers_without_login(client):
    """/healthz says the process is alive, with no session and no database."""
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_is_ready_when_database_redis_and_worker_answer(client, celery_worker, worker_pings):
    """/readyz checks PostgreSQL, Redis and a live Celery worker."""
    response = client.get(reverse("readyz"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": {"ok": True}, "redis": {"ok": True}, "worker": {"ok": True}}


@pytest.mark.django_db(transaction=True)
def test_readyz_reuses_a_worker_answer_briefly(client, celery_worker, worker_pings):
    """Probes calling every few seconds send one ping per WORKER_PING_REUSE_SECONDS, which
    ends at the first worker's reply."""
    for _ in range(3):
        assert client.get(reverse("readyz")).status_code == 200
    assert worker_pings == [{"timeout": views.CHECK_TIMEOUT_SECONDS, "limit": 1}]


@pytest.mark.django_db
def test_readyz_names_the_part_that_fails_and_nothing_else(client, settings, caplog):
    """An unreachable Redis gives 503 naming Redis, without its address or the error's text
    (those go to the log)."""
    settings.REDIS_URL = "redis://probe-user:probe-secret@127.0.0.1:1/0"
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"] == {"ok": False}
    assert all(set(check) == {"ok"} for check in body["checks"].values())
    for secret in ("127.0.0.1", "probe-user", "probe-secret", "Error", "refused"):
        assert secret not in response.content.decode()
    assert "Readiness check redis failed." in caplog.text
