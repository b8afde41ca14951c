"""The write step: skipping unchanged products, the ON CONFLICT fallback, product events."""

import pytest

from imports import upsert
from products.models import Product
from webhooks import events


@pytest.mark.django_db(transaction=True)  # now() is the transaction's start: each import needs its own
def test_unchanged_products_are_not_rewritten(run_import):
    """Re-importing identical rows counts them as updates but leaves updated_at alone; changed rows move it."""
    run_import("sku,name\na,A\nb,B\n")
    before = dict(Product.objects.values_list("sku", "updated_at"))
    job = run_import("sku,name\na,A\nb,B2\n")
    after = dict(Product.objects.values_list("sku", "updated_at"))
    assert (job.created_count, job.updated_count) == (0, 2)
    assert after["a"] == before["a"] and after["b"] > before["b"]


@pytest.mark.django_db
def test_a_failed_fast_path_falls_back_to_on_conflict(run_import, monkeypatch):
    """When the split UPDATE + INSERT hits a unique violation (a concurrent import), the batch is
    merged again by the single ON CONFLICT statement, inside the same transaction."""
    Product.objects.create(sku="a", name="Old")
    clash = (
        "INSERT INTO products_product (sku, name, description, active, created_at, updated_at)"
        " VALUES ('a', 'x', '', true, now(), now())"
    )
    monkeypatch.setattr(upsert, "_split_merge_sql", lambda fields, with_products: clash)
    job = run_import("sku,name\nA,New\nb,B\nB,B2\n")
    assert (job.status, job.created_count, job.updated_count) == ("completed", 1, 2)
    assert sorted(Product.objects.values_list("sku", "name")) == [("A", "New"), ("B", "B2")]


@pytest.mark.django_db
@pytest.mark.parametrize("fast_path", [True, False])
def test_product_events_carry_the_created_and_changed_products(run_import, monkeypatch, fast_path):
    """With subscribers, each batch emits product.created and product.updated in chunks of
    PRODUCTS_PER_EVENT, shaped like products.events; unchanged products are not announced.
    (The webhooks app is a placeholder on this branch, so its two entry points are recorded.)"""
    emitted = []
    monkeypatch.setattr("webhooks.selectors.event_has_subscribers", lambda event_type: True)
    def record(event_type, data):
        emitted.append((event_type, data))
        return 1

    monkeypatch.setattr("webhooks.services.emit", record)
    monkeypatch.setattr(events, "PRODUCTS_PER_EVENT", 2)
    if not fast_path:
        monkeypatch.setattr(upsert, "_split_merge_sql", lambda fields, with_products: "INSERT INTO products_product (sku) VALUES (NULL)")
    Product.objects.create(sku="same", name="Same")
    Product.objects.create(sku="old", name="Old", active=False)
    run_import("sku,name,price\na,A,1.50\nb,B,\nc,C,\nOLD,New,\nsame,Same,\n")
    product_events = [(event_type, data) for event_type, data in emitted if event_type.startswith("product.")]
    assert [(t, sorted(p["sku"] for p in d["products"])) for t, d in product_events] == [
        (events.PRODUCT_CREATED, ["a", "b"]),
        (events.PRODUCT_CREATED, ["c"]),
        (events.PRODUCT_UPDATED, ["OLD"]),
    ]
    created_a = next(p for p in product_events[0][1]["products"] if p["sku"] == "a")
    assert created_a.keys() == {"id", "sku", "name", "description", "price", "active", "created_at", "updated_at"}
    assert (created_a["price"], created_a["active"]) == ("1.50", True)
    assert product_events[2][1]["products"][0]["active"] is False
    upload_event = emitted[-1]
    assert upload_event[0] == events.UPLOAD_COMPLETED
    assert {k: upload_event[1][k] for k in ("created", "updated", "skipped", "errors")} == {
        "created": 3, "updated": 2, "skipped": 0, "errors": 0
    }
