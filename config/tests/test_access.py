"""Every page is for staff: walk the whole URLconf so new pages are covered without a new test."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver

# Open on purpose: signing in, health checks for load balancers, and the icon browsers ask for.
PUBLIC_URL_NAMES = {"login", "healthz", "readyz", "favicon"}


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else (
                pattern.namespace or namespace
            )
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name, prefix + str(pattern.pattern)


def _example_path(route: str) -> str:
    """Turn a route or regex into a concrete path, with 1 for every parameter."""
    path = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "00000000-0000-0000-0000-000000000001"
                  if m.group(1) == "uuid" else "1", route)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)  # admin's regex routes
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path


def _app_routes():
    for name, route in _walk(get_resolver().url_patterns):
        if name in PUBLIC_URL_NAMES or route.startswith("admin/"):
            continue
        yield pytest.param(_example_path(route), id=name or route)


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(_app_routes()))
def test_anonymous_user_is_sent_to_login(client, path):
    """Every application URL redirects an anonymous visitor to the login page."""
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 302, f"{method.__name__.upper()} {path}"
        assert response["Location"].startswith("/login/?next="), response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(_app_routes()))
def test_non_staff_user_is_sent_to_login(client, path):
    """A signed-in user without staff status gets no further than an anonymous one."""
    client.force_login(get_user_model().objects.create_user(username="customer", password="x"))
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.django_db
def test_htmx_request_without_session_redirects_the_whole_page(client):
    """An expired session during an htmx request sends the tab to login, not into a fragment."""
    response = client.get("/products/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/?next=")


@pytest.mark.django_db
def test_admin_requires_staff_login(client):
    """The Django admin keeps its own staff login."""
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_non_staff_account_cannot_sign_in(client):
    """The login form refuses accounts without staff status and says why."""
    get_user_model().objects.create_user(username="customer", password="secret-pass-123")
    response = client.post("/login/", {"username": "customer", "password": "secret-pass-123"})
    assert response.status_code == 200
    assert "not a staff account" in response.content.decode()


@pytest.mark.django_db
def test_favicon_is_served_to_anyone(client):
    """/favicon.ico, which browsers ask for on every site, sends them to the app's icon instead of a 404."""
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/favicon.svg")
    assert client.get("/login/").content.decode().count('rel="icon" href="/static/favicon.svg"') == 1
