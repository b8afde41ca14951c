"""Fixtures every app's tests share: staff users, a real Celery worker and a real browser."""

import os
import shutil
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.worker import state as worker_state
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Q

from config.celery import app as celery_app

# Playwright's sync API keeps an event loop in the test thread; Django's ORM would refuse to
# run beside it. The tests are synchronous, so the check has nothing to protect here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

STAFF_PASSWORD = "correct horse battery staple"
# What the guarded actions need (config.permissions): the tests' staff user may do everything.
STAFF_PERMISSIONS = ["products.add_deletealljob", "webhooks.change_endpoint"]


def _test_broker_url() -> str:
    # Tests use their own Redis database (TEST_REDIS_URL, default database 15 of REDIS_URL)
    # so a worker started by `make run` never takes their tasks.
    if os.environ.get("TEST_REDIS_URL"):
        return os.environ["TEST_REDIS_URL"]
    return urlunsplit(urlsplit(settings.REDIS_URL)._replace(path="/15"))


# Celery reads CELERY_BROKER_URL from the environment before its own settings.

os.environ["CELERY_BROKER_URL"] = _test_broker_url()


@pytest.fixture(scope="session", autouse=True)
def _close_thread_connections_at_exit(django_db_setup, django_db_blocker):
    """Connections left by worker and live-server threads would keep the test database from being dropped."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploads land in a per-test folder, never in the developer's media."""
    settings.MEDIA_ROOT = tmp_path / "media"


def permissions_get(names: list[str]) -> list[Permission]:
    """The Permission rows for "app_label.codename" names."""
    wanted = Q()
    for name in names:
        app_label, codename = name.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(wanted))


@pytest.fixture
def staff_user(db):
    user = get_user_model().objects.create_user(
        username="staff", email="staff@example.com", password=STAFF_PASSWORD, is_staff=True
    )
    user.user_permissions.set(permissions_get(STAFF_PERMISSIONS))
    return user


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


# The session's worker once a test has started it (see `celery_worker`).
_running_workers: list = []


def _worker_wait_until_idle(timeout: float = 60.0) -> None:
    """Wait until no task is queued, unacknowledged (tasks ack late) or held by the worker.

    Idle twice in a row: a task that is finishing may queue another between two of the checks.
    """
    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    queue = celery_app.conf.task_default_queue
    deadline = time.monotonic() + timeout
    idle_checks = 0
    while idle_checks < 2:
        busy = broker.llen(queue) or broker.hlen("unacked") or worker_state.reserved_requests
        idle_checks = 0 if busy else idle_checks + 1
        if busy and time.monotonic() > deadline:
            pytest.fail(f"The Celery worker was still busy {timeout:.0f} s after the test ended.")
        time.sleep(0.005)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # Before any fixture is torn down: a task the test queued (an ended import asks for a search
    # catch-up) must not run while pytest-django empties the database, whose TRUNCATE of every
    # table can deadlock with it, nor in the next test.
    if _running_workers:
        _worker_wait_until_idle()
    return (yield)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker consuming from the real Redis, in a thread of the test process.

    Tests that use it need `transactional_db` (or `live_server`): the worker has its own
    database connection and only sees committed rows.
    """
    import celery.contrib.testing.tasks  # noqa: F401 - registers the ping task start_worker waits on

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()  # left by an interrupted run
    settings.WORKER_NICENESS = 0  # this worker is pytest's own process (config.celery)
    with django_db_blocker.unblock():
        with start_worker(celery_app, pool="solo", perform_ping_check=True, shutdown_timeout=30) as worker:
            _running_workers.append(worker)
            yield worker
            _running_workers.remove(worker)


def _chromium_path() -> str:
    path = (
        os.environ.get("CHROMIUM_PATH")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not path:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package.")
    return path


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium_path(),
            # This machine has no network beyond loopback: keep Chromium from phoning home.
            args=[
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, user) -> None:
    """Sign `user` in through the real login form, as a person would."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture
def staff_page(page, staff_user):
    """A browser page signed in as a staff user."""
    sign_in(page, staff_user)
    return page



@pytest.fixture
def api_token(staff_user):
    """A bearer token of the staff user, made as `manage.py api_token` makes it."""
    from api.services import api_token_create

    return api_token_create(user=staff_user, name="tests")[1]


@pytest.fixture
def api_client(api_token):
    """A DRF test client that sends the staff user's bearer token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    return client
