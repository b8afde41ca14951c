"""Honest import counts: created, updated, unchanged, duplicates and skipped add up to the rows read."""

import random

import pytest

from imports import pipeline
from imports.models import ImportJob
from imports.services import import_job_retry
from products import bulk
from products.models import Product
from webhooks import events
from webhooks.tests.factories import endpoint_make

UNUSED_URL = "http://127.0.0.1:9/hook"  # nothing listens: deliveries are only queued


def counts(job: ImportJob) -> dict[str, int]:
    return {
        "created": job.created_count, "updated": job.updated_count, "unchanged": job.unchanged_count,
        "duplicates": job.duplicate_count, "skipped": job.skipped_count,
    }  # fmt: skip


def repeated_skus_csv(skus: int, rows: int) -> str:
    """`rows` rows over `skus` SKUs, each repeated anywhere in the file in another letter case
    and with another name; deterministic."""
    rng = random.Random(7)
    lines = [f"SKU-{n:04d},Name {n}" for n in range(skus)]
    lines += [f"sku-{rng.randrange(skus):04d},Other {i}" for i in range(rows - skus)]
    rng.shuffle(lines)
    return "sku,name\n" + "\n".join(lines) + "\n"


@pytest.fixture
def batches_of_50(monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 50)
    monkeypatch.setattr(pipeline, "FIRST_BATCH_ROWS", 10)


@pytest.mark.django_db(transaction=True)  # now() is the transaction's start: each import needs its own
@pytest.mark.parametrize("subscribed", [False, True], ids=["append", "merge-only"])
def test_a_file_full_of_repeated_skus_imported_twice(run_import, batches_of_50, subscribed):
    """First import: every SKU created once, every superseded row a duplicate, nothing updated.
    Second import of the same file: nothing updated (each SKU ends as it was), every SKU unchanged."""
    if subscribed:  # every batch through the merge, as with subscribers
        endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED, events.PRODUCT_UPDATED])
    content = repeated_skus_csv(skus=200, rows=700)
    first = run_import(content)
    assert counts(first) == {"created": 200, "updated": 0, "unchanged": 0, "duplicates": 500, "skipped": 0}
    second = run_import(content)
    assert counts(second) == {"created": 0, "updated": 0, "unchanged": 200, "duplicates": 500, "skipped": 0}
    assert Product.objects.count() == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fallback", [False, True], ids=["split", "on-conflict"])
def test_a_repeated_sku_counts_as_updated_only_if_its_last_row_changes_the_product(
    run_import, batches_of_50, monkeypatch, fallback
):
    """Across batches, a SKU is updated or unchanged by what its last row leaves, and rows read
    add up; also when every merge falls back to the ON CONFLICT statement."""
    if fallback:  # a unique violation in the fast path, as a concurrent import would cause
        clash = "INSERT INTO products_product (sku, name, description, active, created_at, updated_at) VALUES ('kept', '', '', true, now(), now())"
        monkeypatch.setattr(bulk, "_split_merge_sql", lambda fields, with_products: clash)
    Product.objects.create(sku="kept", name="Kept")
    Product.objects.create(sku="changed", name="Old")
    filler = "".join(f"f-{n},F\n" for n in range(120))
    content = f"sku,name\nKEPT,Other\nchanged,Other\n{filler}kept,Kept\nchanged,New\nbad,\n"
    job = run_import(content)
    assert counts(job) == {"created": 120, "updated": 1, "unchanged": 1, "duplicates": 2, "skipped": 1}
    assert sum(counts(job).values()) == job.rows_processed == 125


@pytest.mark.django_db(transaction=True)
def test_a_repeat_that_changes_a_product_counts_it_as_updated_however_its_earlier_rows_left_it(run_import, batches_of_50):
    """A SKU whose first row left its product as it was, and one changed, changed back and changed
    again by later batches, both end updated; rows read add up."""
    Product.objects.create(sku="same", name="Same")
    Product.objects.create(sku="back", name="Back")
    fillers = ["".join(f"{prefix}-{n},F\n" for n in range(60)) for prefix in ("f", "g")]
    content = f"sku,name\nsame,Same\nback,Other\n{fillers[0]}SAME,Changed\nBACK,Back\n{fillers[1]}back,Third\n"
    job = run_import(content)
    assert counts(job) == {"created": 120, "updated": 2, "unchanged": 0, "duplicates": 3, "skipped": 0}
    assert sorted(Product.objects.filter(sku__in=["SAME", "back"]).values_list("sku", "name")) == [
        ("SAME", "Changed"), ("back", "Third")
    ]


@pytest.mark.django_db
def test_a_retried_job_starts_from_clean_progress(run_import, django_capture_on_commit_callbacks):
    """Retry forgets the earlier run's bytes, rows, counts and timing, so no stale rate shows."""
    job = run_import("sku,name\na,A\nb,\n")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED)
    job.refresh_from_db()
    with django_capture_on_commit_callbacks():
        job = import_job_retry(job=job)
    job.refresh_from_db()
    assert (job.bytes_processed, job.rows_processed, job.error_count, job.started_at, job.finished_at) == (
        0, 0, 0, None, None
    )
    assert set(counts(job).values()) == {0}
