import json

import psycopg
import pytest
from django.db import connection

from config import locks
from products.selectors import search_statistics_forget
from webhooks.models import Event
from webhooks.tests.factories import endpoint_make


@pytest.fixture(autouse=True)
def statistics_forgotten():
    """Each test's filters plan from its own database's statistics, not an earlier test's."""
    search_statistics_forget()


@pytest.fixture
def other_session(db):
    """A second database session, as another process (an import, a worker) would hold."""
    params = connection.settings_dict
    with psycopg.connect(
        dbname=params["NAME"], user=params["USER"], password=params["PASSWORD"] or None,
        host=params["HOST"], port=params["PORT"] or None, autocommit=True,
    ) as other:
        yield other


@pytest.fixture
def import_running(other_session):
    """An import's shared catalogue lock, held from another database session as a running import would."""
    other_session.execute("SELECT pg_advisory_lock_shared(%s)", [locks.CATALOGUE])
    yield
    other_session.execute("SELECT pg_advisory_unlock_shared(%s)", [locks.CATALOGUE])


@pytest.fixture
def emitted(db):
    """Read the real webhook outbox: the events product services queued for a subscribed endpoint."""
    endpoint = endpoint_make(url="https://receiver.example.com/hooks")

    def events() -> list[dict]:
        queued = Event.objects.filter(deliveries__endpoint=endpoint).order_by("id")
        return [json.loads(event.payload) for event in queued]

    return events
