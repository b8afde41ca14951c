import pytest
from django.urls import reverse


def test_healthz_answers_without_login(client):
    """/healthz says the process is alive, with no session and no database."""
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_is_ready_when_database_redis_and_worker_answer(client, celery_worker):
    """/readyz checks PostgreSQL, Redis and a live Celery worker."""
    response = client.get(reverse("readyz"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": {"ok": True}, "redis": {"ok": True}, "worker": {"ok": True}}


@pytest.mark.django_db
def test_readyz_names_the_part_that_fails(client, settings):
    """An unreachable Redis gives 503 with a body that names Redis."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["error"]
