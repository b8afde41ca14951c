"""Imports never fail on their own plumbing: late merges, subscribers, and imports run at once."""

import pytest

from imports import pipeline
from imports.models import ImportJob
from products.models import Product
from webhooks import events
from webhooks.tests.factories import endpoint_make

UNUSED_URL = "http://127.0.0.1:9/hook"  # nothing listens: deliveries are only queued


def csv_of(rows: list[tuple[str, str]]) -> str:
    return "sku,name\n" + "".join(f"{sku},{name}\n" for sku, name in rows)


@pytest.mark.django_db
def test_a_file_that_meets_existing_skus_only_in_its_last_batch_completes(run_import):
    """35,001 rows whose last SKU exists already: its one-row batch is merged after the parser
    has sent everything and exited, and the job still completes with every row written."""
    Product.objects.create(sku="SKU-35000", name="Old")
    job = run_import(csv_of([(f"SKU-{i}", f"Name {i}") for i in range(35_001)]))
    assert (job.status, job.rows_processed, job.created_count) == ("completed", 35_001, 35_000)
    assert Product.objects.count() == 35_001
    assert Product.objects.get(sku="SKU-35000").name == "Name 35000"


@pytest.mark.django_db
def test_many_small_imports_complete_while_someone_listens_for_product_events(run_import):
    """With an endpoint subscribed to product events every batch is merged: thirty three-row
    imports, each over before its parser is heard from again, all complete."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED, events.PRODUCT_UPDATED])
    jobs = [run_import(csv_of([(f"s-{i % 5}", f"N {n}"), (f"t-{n}", "T"), (f"S-{i % 5}", f"M {n}")]))
            for n, i in enumerate(range(30))]
    assert [job.status for job in jobs] == ["completed"] * 30
    assert Product.objects.count() == 5 + 30
    assert sum(job.created_count for job in jobs) == 35


def file_rows(first: int, count: int, *, tag: str, descending: bool = False) -> list[tuple[str, str]]:
    """SKUs first..first+count-1, each once under a `tag`ged name in another letter case and then
    finally as "SKU-n,Name n": every file ends a SKU with the same row, so the catalogue's final
    contents do not depend on which import wrote last."""
    skus = range(first, first + count)[:: -1 if descending else 1]
    early = [(f"sku-{n:05d}", f"{tag} {n}") for n in skus if n % 3 == 0]
    final = [(f"SKU-{n:05d}", f"Name {n}") for n in skus]
    return early + final


@pytest.mark.django_db(transaction=True)  # each import runs in its own thread and connection
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_imports_of_the_same_and_overlapping_files_all_complete(make_job, run_at_once, monkeypatch, round_):
    """Five imports started together (the same file twice, and files that overlap it) all
    complete, with exact per-job counts, products created once between them, and the catalogue
    holding exactly the files' last rows."""
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 400)
    monkeypatch.setattr(pipeline, "FIRST_BATCH_ROWS", 100)
    if round_ == 2:  # every batch through the merge, as with subscribers
        endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED])
    files = [
        file_rows(0, 2000, tag="a"),
        file_rows(0, 2000, tag="b"),
        file_rows(1000, 2000, tag="c"),
        file_rows(2500, 1000, tag="d"),
        file_rows(500, 1000, tag="e", descending=True),
    ]
    jobs = [make_job(csv_of(rows), name=f"file-{n}.csv") for n, rows in enumerate(files)]
    assert run_at_once([job.pk for job in jobs]) == []
    finished = [ImportJob.objects.get(pk=job.pk) for job in jobs]
    assert [(job.status, job.rows_processed, job.skipped_count) for job in finished] == [
        ("completed", len(rows), 0) for rows in files
    ]
    assert sum(job.created_count for job in finished) == 3500
    for job, rows in zip(finished, files):
        counts = (job.created_count, job.updated_count, job.unchanged_count, job.duplicate_count, job.skipped_count)
        assert sum(counts) == job.rows_processed
        assert job.duplicate_count == len(rows) - len({sku.lower() for sku, _name in rows})
    assert sorted(Product.objects.values_list("sku", "name")) == [(f"SKU-{n:05d}", f"Name {n}") for n in range(3500)]
