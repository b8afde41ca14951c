import psycopg
import pytest
from django.db import connection

from products import services
from products.locks import CATALOGUE_LOCK_KEY


@pytest.fixture
def import_running(db):
    """An import's shared catalogue lock, held from another database session as a running import would."""
    params = connection.settings_dict
    with psycopg.connect(
        dbname=params["NAME"], user=params["USER"], password=params["PASSWORD"] or None,
        host=params["HOST"], port=params["PORT"] or None, autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock_shared(%s)", [CATALOGUE_LOCK_KEY])
        yield
        other.execute("SELECT pg_advisory_unlock_shared(%s)", [CATALOGUE_LOCK_KEY])


@pytest.fixture
def emitted(monkeypatch):
    """Webhook events emitted by the product services, with whether a transaction was open."""
    events = []

    def record(event_type, data):
        events.append({"type": event_type, "data": data, "in_transaction": connection.in_atomic_block})
        return 0

    monkeypatch.setattr(services, "emit", record)
    return events
