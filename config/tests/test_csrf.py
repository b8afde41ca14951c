"""Every state-changing request needs the CSRF token: walk the whole URLconf, admin included."""

import pytest
from django.test import Client
from django.urls import get_resolver

from config.tests.test_access import _example_path, _walk


@pytest.fixture
def csrf_client(staff_user):
    """A signed-in staff user's client that checks CSRF as a browser's requests are checked."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


@pytest.mark.django_db
def test_post_without_csrf_token_is_refused_everywhere(csrf_client):
    """A POST without the token is refused (403) on every URL, public ones and the admin's too."""
    paths = [_example_path(route) for _, route, _ in _walk(get_resolver().url_patterns)]
    accepted = {path: status for path in paths if (status := csrf_client.post(path, {"sku": "x"}).status_code) != 403}
    assert len(paths) > 50 and accepted == {}


@pytest.mark.django_db
def test_post_with_csrf_token_is_accepted(csrf_client):
    """The same client with the token gets through, so the refusals above are CSRF's."""
    csrf_client.get("/products/")
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post("/products/new/", {"sku": "x", "name": "x"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200
