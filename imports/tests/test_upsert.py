"""The write step: skipping unchanged products, the ON CONFLICT fallback (its events: test_events.py)."""

import pytest

from imports import pipeline
from products import bulk
from products.models import Product


@pytest.mark.django_db(transaction=True)  # now() is the transaction's start: each import needs its own
def test_unchanged_products_are_not_rewritten(run_import):
    """Re-importing identical rows counts them as unchanged and leaves updated_at alone; changed rows move it."""
    run_import("sku,name\na,A\nb,B\n")
    before = dict(Product.objects.values_list("sku", "updated_at"))
    job = run_import("sku,name\na,A\nb,B2\n")
    after = dict(Product.objects.values_list("sku", "updated_at"))
    assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 1, 1)
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
    monkeypatch.setattr(bulk, "_split_merge_sql", lambda fields, with_products: clash)
    job = run_import("sku,name\nA,New\nb,B\nB,B2\n")
    assert (job.status, job.created_count, job.updated_count, job.duplicate_count) == ("completed", 1, 1, 1)
    assert sorted(Product.objects.values_list("sku", "name")) == [("A", "New"), ("B", "B2")]


@pytest.mark.django_db
def test_new_skus_found_in_the_catalogue_after_all_are_merged(run_import):
    """A batch's SKUs new to the import are COPYed straight in; when one exists already (made by
    staff, say), nothing of that COPY stays and the batch is merged: updated, `active` kept."""
    Product.objects.create(sku="b", name="Old", active=False)
    job = run_import("sku,name\na,A\nB,New\n")
    assert (job.status, job.created_count, job.updated_count) == ("completed", 1, 1)
    assert sorted(Product.objects.values_list("sku", "name", "active")) == [("B", "New", False), ("a", "A", True)]


@pytest.mark.django_db
def test_skus_only_postgresql_calls_equal_keep_the_last_row(run_import):
    """Python lowers "İX" to "i̇x" but PostgreSQL to "ix": the unique index sees one SKU where
    the parser saw two, and the file's last row still wins."""
    job = run_import("sku,name\nix,First\nİX,Second\n")
    assert (job.status, job.created_count, job.updated_count, job.duplicate_count) == ("completed", 1, 0, 1)
    assert list(Product.objects.values_list("sku", "name")) == [("İX", "Second")]


@pytest.mark.django_db
def test_skus_only_postgresql_calls_equal_keep_the_last_row_whatever_their_key_order(run_import):
    """The same two SKUs the other way round: the parser sorts "ix" before "İX" but the file has it
    last, so the file's order, not the key order, decides which row wins."""
    job = run_import("sku,name\nİX,First\nix,Second\n")
    assert (job.status, job.created_count, job.updated_count, job.duplicate_count) == ("completed", 1, 0, 1)
    assert list(Product.objects.values_list("sku", "name")) == [("ix", "Second")]


@pytest.mark.django_db
def test_a_clash_in_one_batch_costs_that_batch_a_merge_only(run_import, monkeypatch):
    """A batch whose append meets an existing SKU is merged; the next batches, whose SKUs are all
    new, are appended again, and the counts are the same as if every batch had been merged."""
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 20)
    monkeypatch.setattr(pipeline, "FIRST_BATCH_ROWS", 10)
    appends = []

    def recorded_append(**arguments):
        appends.append(bulk.products_bulk_append(**arguments))
        return appends[-1]

    monkeypatch.setattr(pipeline, "products_bulk_append", recorded_append)
    Product.objects.create(sku="n-3", name="Old")
    job = run_import("sku,name\n" + "".join(f"N-{n},Name {n}\n" for n in range(50)))
    assert appends == [False, True, True]
    assert (job.status, job.created_count, job.updated_count) == ("completed", 49, 1)
    assert Product.objects.count() == 50
