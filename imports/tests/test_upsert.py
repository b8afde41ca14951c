"""The write step: skipping unchanged products, the ON CONFLICT fallback (its events: test_events.py)."""

import pytest

from imports import upsert
from products.models import Product


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
