"""Who may call the API: staff with a bearer token or a session (with CSRF); everyone else gets JSON."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from api.models import ApiToken
from api.throttling import TokenRateThrottle
from api.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def test_token_is_stored_only_as_a_digest(staff_user):
    """The database holds a SHA-512 digest, never the token."""
    token, secret = api_token_create(user=staff_user, name="ERP")
    stored = ApiToken.objects.get()
    assert secret not in {stored.digest, stored.token_key, stored.name}
    assert len(stored.digest) == 128 and stored.expiry is None and stored.name == "ERP"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-real-token", "Bearer a b", "Basic dXNlcjpwYXNz"])
def test_missing_or_bad_token_is_a_401_json_not_a_redirect(client, header):
    """No token, an empty or unknown one, or another scheme: 401 JSON with a Bearer challenge."""
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/products/", headers=headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()


def test_revoked_token_no_longer_works(api_client, staff_user):
    """Revoking deletes the token: the next request with it is a 401."""
    assert api_client.get("/api/products/").status_code == 200
    api_token_revoke(user=staff_user, digest=ApiToken.objects.get().digest)
    assert api_client.get("/api/products/").status_code == 401


def test_token_of_a_user_who_is_not_staff_is_a_403(client):
    """A token of someone who lost staff status authenticates but is refused (403 JSON)."""
    user = get_user_model().objects.create_user(username="customer", password="x")
    _, secret = api_token_create(user=user, name="old")
    response = client.get("/api/products/", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403 and "detail" in response.json()


def test_session_works_and_needs_csrf_to_write(staff_user):
    """A signed-in staff browser reads with its session; writes without the CSRF token are a 403."""
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    assert browser.get("/api/products/").status_code == 200
    response = browser.post("/api/products/", {"sku": "A", "name": "B"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_requests_past_the_rate_are_throttled_per_token(api_client, staff_user, monkeypatch):
    """Past the token's rate: 429 JSON with Retry-After; another token of the same user is not affected."""
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    assert [api_client.get("/api/products/").status_code for _ in range(4)] == [200, 200, 200, 429]
    response = api_client.get("/api/products/")
    assert response.json()["detail"].startswith("Request was throttled") and int(response["Retry-After"]) > 0
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=staff_user, name='other')[1]}")
    assert other.get("/api/products/").status_code == 200
