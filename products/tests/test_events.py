"""The product shape of webhook payloads, from Python, from SQL and from an append's COPY text."""

import json
import random
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from products.bulk import products_bulk_append
from products.events import product_event_columns_sql, product_event_data, product_events_json
from products.models import DeleteAllJob, Product
from products.services import product_update, products_delete_all
from webhooks.events import PRODUCT_CREATED, PRODUCTS_PER_EVENT
from webhooks.models import Delivery, Event
from webhooks.services import _payload_serialize
from webhooks.signing import signature_headers
from webhooks.tests.factories import endpoint_make

# What a cell may hold that JSON or COPY text must escape, and non-ASCII beyond the BMP.
ODD_CHARACTERS = "aZ09 -\"'\\\t\n\r%{}é中😀\u2028"

pytestmark = pytest.mark.django_db


def test_sql_and_python_give_the_same_event_data():
    """An import builds event data in SQL, staff edits in Python: the same keys and the same text,
    for prices with and without decimals, no price, and timestamps with and without microseconds."""
    moments = [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)]
    for sku, price, moment in [("a", Decimal("19.90"), moments[0]), ("b", None, moments[1]), ("c", Decimal("1000"), moments[1])]:
        Product.objects.create(sku=sku, name=f"Name {sku}", description="Oak, \"solid\"\n", price=price, active=sku != "b")
        Product.objects.filter(sku=sku).update(created_at=moment, updated_at=moment)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {product_event_columns_sql('p')} FROM products_product p ORDER BY p.sku")
        from_sql = json.loads(product_events_json(cursor.fetchall()))["products"]
    from_python = [product_event_data(product) for product in Product.objects.order_by("sku")]
    assert from_sql == from_python
    assert [data["created_at"] for data in from_python] == [
        "2026-01-02T03:04:05.000000+00:00", "2026-01-02T03:04:05.120000+00:00", "2026-01-02T03:04:05.120000+00:00",
    ]
    assert [data["price"] for data in from_python] == ["19.90", None, "1000.00"]


def _copy_text(value: str | None) -> str:
    """A value in COPY's text format, as PostgreSQL's documentation specifies it."""
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _appended(rows: list[tuple], endpoint) -> None:
    text = "".join("\t".join(map(_copy_text, row)) + "\n" for row in rows).encode()
    assert products_bulk_append(payload=text, announce=[endpoint.pk])


def test_appended_products_are_read_from_their_copy_text_as_the_bytes_emit_writes(monkeypatch):
    """Products appended with random values (quotes, backslashes, tabs, newlines, non-ASCII, no
    price, 64-character SKUs) are announced with the COPY text that created them, and their
    events read as exactly the body emit() writes for them as stored, signed alike."""
    rng = random.Random(12)
    endpoint = endpoint_make(url="https://receiver.example.com/hooks", event_types=[PRODUCT_CREATED])

    def odd(length: int) -> str:
        return "".join(rng.choice(ODD_CHARACTERS) for _ in range(length))

    rows = [
        (f"{i:04d}-" + odd(59 if i % 5 == 0 else rng.randrange(12)), odd(rng.randrange(1, 30)), odd(rng.randrange(40)),
         None if i % 3 == 0 else f"{rng.randrange(10**6)}.{rng.randrange(100):02d}")
        for i in range(PRODUCTS_PER_EVENT + 500)
    ]
    _appended(rows, endpoint)
    products = list(Product.objects.order_by("id"))
    assert [(p.sku, p.name, p.description, None if p.price is None else str(p.price)) for p in products] == rows
    assert max(len(p.sku) for p in products) == 64
    payloads = list(Event.objects.order_by("id").values_list("payload", flat=True))
    assert len(payloads) == 2
    for index, payload in enumerate(payloads):
        sent = json.loads(payload)
        announced = products[index * PRODUCTS_PER_EVENT : (index + 1) * PRODUCTS_PER_EVENT]
        with monkeypatch.context() as frozen:
            frozen.setattr(timezone, "now", lambda: datetime.fromisoformat(sent["timestamp"]))
            expected = _payload_serialize(PRODUCT_CREATED, {"products": [product_event_data(p) for p in announced]})
        assert payload == expected
        signed = {"secret": endpoint.secret, "message_id": "msg_1", "timestamp": int(time.time())}
        headers = signature_headers(**signed, body=payload)
        assert headers == signature_headers(**signed, body=expected)
        assert Webhook(endpoint.secret).verify(payload.encode(), headers) == json.loads(expected)


def test_an_appended_products_event_keeps_the_values_it_was_created_with():
    """The event carries its own copy of the products: a later edit, and deleting every product
    before the event is sent, leave its payload as it was."""
    endpoint = endpoint_make(url="https://receiver.example.com/hooks", event_types=[PRODUCT_CREATED])
    _appended([("a-1", "Old name", "", "1.00")], endpoint)
    created = Event.objects.get(type=PRODUCT_CREATED)
    before = created.payload
    product_update(product=Product.objects.get(sku="a-1"), data={"name": "New name"})
    assert products_delete_all(job_id=DeleteAllJob.objects.create().pk).deleted_count == 1
    created.refresh_from_db()
    assert created.payload == before
    assert [product["name"] for product in json.loads(before)["data"]["products"]] == ["Old name"]


def test_the_delivery_page_shows_an_appended_products_event_as_json(staff_client):
    """The webhook pages read the event as its JSON too: the delivery page shows the appended
    product, indented for reading."""
    endpoint = endpoint_make(url="https://receiver.example.com/hooks", event_types=[PRODUCT_CREATED])
    _appended([("tab-1", "Tab\there", "", None)], endpoint)
    delivery = Delivery.objects.get()
    content = staff_client.get(delivery.get_absolute_url()).content.decode()
    assert "&quot;sku&quot;: &quot;tab-1&quot;" in content
    assert "&quot;name&quot;: &quot;Tab\\there&quot;" in content and "&quot;price&quot;: null" in content
