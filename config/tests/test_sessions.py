"""Sessions: read from the Redis cache on every page, kept in the database, ended in both."""

import pytest
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


def _session_reads(client, path: str) -> int:
    """How many statements one signed-in request to `path` runs against the session table."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return sum('"django_session"' in query["sql"] for query in queries.captured_queries)


def test_a_page_reads_the_session_from_the_cache(client, staff_user):
    """After signing in through the login form, a page reads no session row from the database."""
    client.post(reverse("login"), {"username": staff_user.username, "password": STAFF_PASSWORD})
    assert _session_reads(client, reverse("webhooks:index")) == 0


def test_a_session_missing_from_the_cache_is_read_from_the_database_once(staff_client):
    """A flushed cache signs nobody out: the database answers, and refills the cache."""
    cache.delete(KEY_PREFIX + staff_client.cookies["sessionid"].value)
    assert _session_reads(staff_client, reverse("webhooks:index")) == 1
    assert _session_reads(staff_client, reverse("webhooks:index")) == 0


def test_signing_out_ends_the_session_in_the_cache_and_the_database(client, staff_user):
    """The cookie of a signed-out session opens nothing, although the cache held it."""
    client.post(reverse("login"), {"username": staff_user.username, "password": STAFF_PASSWORD})
    key = client.cookies["sessionid"].value
    assert cache.get(KEY_PREFIX + key) is not None
    client.post(reverse("logout"))
    assert cache.get(KEY_PREFIX + key) is None and not Session.objects.filter(session_key=key).exists()
    client.cookies["sessionid"] = key
    response = client.get(reverse("webhooks:index"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
