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


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("post", "/api/products/delete-all/", "products.add_deletealljob"),
        ("patch", "/api/webhooks/{endpoint}/", "webhooks.change_endpoint"),
        ("post", "/api/webhooks/{endpoint}/rotate-secret/", "webhooks.change_endpoint"),
    ],
)
def test_dangerous_actions_need_the_pages_model_permission(method, path, permission):
    """Staff without the permission the page's action needs get 403 JSON with the page's message;
    with that permission alone the request goes through."""
    from conftest import permissions_get
    from webhooks.tests.factories import endpoint_make

    user = get_user_model().objects.create_user(username="plain", password="x", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='plain')[1]}")
    url = path.format(endpoint=endpoint_make(url="https://example.com/hook").pk)
    data = {"confirm": True, "url": "https://example.com/other", "events": ["product.created"]}
    response = getattr(client, method)(url, data, format="json")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("You do not have permission to")
    user.user_permissions.set(permissions_get([permission]))
    assert getattr(client, method)(url, data, format="json").status_code in {200, 201, 202, 204}


def test_everyday_actions_need_no_model_permission(settings):
    """Any staff user lists endpoints, adds one of their own (seeing its secret once), sends a test
    event and deletes an endpoint, as on the pages."""
    from webhooks.tests.factories import endpoint_make

    user = get_user_model().objects.create_user(username="plain", password="x", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='plain')[1]}")
    endpoint = endpoint_make(url="https://example.com/hook")
    assert client.get("/api/webhooks/").status_code == 200
    assert client.post(f"/api/webhooks/{endpoint.pk}/test/").status_code == 202
    assert client.post("/api/products/", {"sku": "A", "name": "B"}, format="json").status_code == 201
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # no DNS here: the guard is tested in webhooks/tests
    own = {"url": "https://example.com/own", "events": ["product.created"]}
    created = client.post("/api/webhooks/", own, format="json")
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    assert client.delete(f"/api/webhooks/{created.json()['id']}/").status_code == 204
