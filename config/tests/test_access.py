"""Every page is for staff: walk the whole URLconf so new pages are covered without a new test.
Pages send others to the login page; the API (under /api/) answers them with JSON instead.

Dangerous actions also need a model permission (config.permissions); the walk finds those too.
"""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import STAFF_PERMISSIONS, permissions_get
from webhooks.tests.factories import endpoint_make

# Open on purpose: signing in, health checks for load balancers, the icon browsers ask for, and
# the API's schema and docs.
PUBLIC_URL_NAMES = {"login", "healthz", "readyz", "favicon", "api:schema", "api:docs"}
# The design the README explains: what destroys the catalogue or changes an existing endpoint.
GUARDED_URLS = {
    "products:delete_all": "products.add_deletealljob",
    "webhooks:endpoint_update": "webhooks.change_endpoint",
    "webhooks:endpoint_toggle": "webhooks.change_endpoint",
    "webhooks:endpoint_secret_rotate": "webhooks.change_endpoint",
}
HTMX = {"HX-Request": "true"}


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else (
                pattern.namespace or namespace
            )
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name, prefix + str(pattern.pattern), pattern.callback


def _example_path(route: str) -> str:
    """Turn a route or regex into a concrete path, with 1 for every parameter."""
    path = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "00000000-0000-0000-0000-000000000001"
                  if m.group(1) == "uuid" else "1", route)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)  # admin's regex routes
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path


def _app_routes(*, api: bool = False):
    for name, route, _ in _walk(get_resolver().url_patterns):
        if name in PUBLIC_URL_NAMES or route.startswith("admin/") or route.startswith("api/") != api:
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
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 302, f"{method.__name__.upper()} {path}"
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(_app_routes(api=True)))
def test_anonymous_api_client_gets_401_json(client, path):
    """Every API URL answers a client without a token 401 JSON, never a redirect to the login page."""
    for method in (client.get, client.post, client.put, client.patch, client.delete):
        response = method(path)
        assert response.status_code == 401, f"{method.__name__.upper()} {path}"
        assert response["Content-Type"] == "application/json"
        assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(_app_routes(api=True)))
def test_non_staff_api_session_gets_403_json(client, path):
    """A signed-in user without staff status is refused by every API URL with 403 JSON."""
    client.force_login(get_user_model().objects.create_user(username="customer", password="x"))
    response = client.get(path)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"


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
def test_every_admin_url_sends_anonymous_and_non_staff_users_to_login(client):
    """The admin's pages, its catch-all included, need staff status too."""
    paths = [
        _example_path(route) for name, route, _ in _walk(get_resolver().url_patterns)
        if route.startswith("admin/") and name != "admin:login"
    ]
    let_through = {}
    for user in (None, get_user_model().objects.create_user(username="customer", password="x")):
        if user:
            client.force_login(user)
        for method in (client.get, client.post):
            for path in paths:
                response = method(path)
                if response.status_code != 302 or "/login/" not in response["Location"]:
                    let_through[f"{user} {method.__name__} {path}"] = response.status_code
    assert len(paths) > 20 and let_through == {}


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


def _guarded_routes():
    for name, route, view in _walk(get_resolver().url_patterns):
        if hasattr(view, "required_permission"):
            yield name, _example_path(route), view.required_permission


def test_guarded_urls_are_the_documented_ones():
    """Every permission guard in the URLconf is one the README lists, and the tests' staff user has each."""
    guards = {name: permission for name, _, permission in _guarded_routes()}
    assert guards == GUARDED_URLS
    assert set(guards.values()) == set(STAFF_PERMISSIONS)


@pytest.fixture
def plain_staff_client(db):
    """A staff user with no model permissions at all."""
    client = Client()
    client.force_login(get_user_model().objects.create_user(username="plain", password="x", is_staff=True))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path", "permission"), list(_guarded_routes()))
def test_staff_without_the_permission_get_403(plain_staff_client, name, path, permission):
    """Without the permission: a 403 page that names the action, or for htmx a 403 error toast
    and no swap. With it (and only it) the view answers."""
    assert plain_staff_client.get(path).status_code in {403, 405}  # 405: the action is POST only
    response = plain_staff_client.post(path)
    assert response.status_code == 403
    assert "You do not have permission to" in response.content.decode()
    response = plain_staff_client.post(path, headers=HTMX)
    assert response.status_code == 403 and response["HX-Reswap"] == "none"
    assert json.loads(response["HX-Trigger"])["toast"]["level"] == "error"
    user = response.wsgi_request.user
    user.user_permissions.set(permissions_get([permission]))
    plain_staff_client.force_login(get_user_model().objects.get(pk=user.pk))  # drops the cached perms
    assert plain_staff_client.post(path).status_code != 403


@pytest.mark.django_db
def test_buttons_for_guarded_actions_show_only_with_the_permission(plain_staff_client, staff_client):
    """Staff without the permissions never see a button that would only answer 403."""
    endpoint = endpoint_make(url="https://receiver.example.com/hooks")
    pages = {
        "/products/": ["Delete all products</button>"],
        endpoint.get_absolute_url(): ["Edit</a>", "Rotate secret</button>", "Disable</button>"],
    }
    for path, buttons in pages.items():
        plain = plain_staff_client.get(path).content.decode()
        allowed = staff_client.get(path).content.decode()
        for button in buttons:
            assert button not in plain and button in allowed, (path, button)
    # Open to all staff: adding an endpoint of one's own, and deleting one.
    assert "Add endpoint</a>" in plain_staff_client.get("/webhooks/").content.decode()
    assert "Delete endpoint" in plain_staff_client.get(endpoint.get_absolute_url()).content.decode()
