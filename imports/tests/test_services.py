"""The import pipeline end to end against PostgreSQL: upsert rules, failures, cancel, retry, redelivery."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from config import locks
from imports import pipeline, services
from imports.models import ImportJob
from products.models import Product
from products.selectors import product_search_is_behind


def products():
    return {p.sku.lower(): (p.sku, p.name, p.description, None if p.price is None else str(p.price)) for p in Product.objects.all()}


@pytest.mark.django_db
def test_duplicates_in_mixed_case_keep_the_last_row(run_import, small_batches):
    """Duplicate SKUs in any case, in one batch and across batches, end as one product: the last row."""
    job = run_import("sku,name\nAbc-1,First\nabc-1,Second\nXyz,Other\n ABC-1 ,Third\nxyz,Last\n")
    assert products() == {"abc-1": ("ABC-1", "Third", "", None), "xyz": ("xyz", "Last", "", None)}
    assert (job.status, job.created_count, job.updated_count, job.duplicate_count, job.skipped_count) == (
        "completed", 2, 0, 3, 0
    )
    assert job.rows_processed == 5 and job.bytes_processed == job.size


@pytest.mark.django_db
def test_overwrite_keeps_active_and_columns_the_file_lacks(run_import):
    """An import updates what the file has, never `active`, and keeps prices when there is no price column."""
    Product.objects.create(sku="ABC-1", name="Old", description="Old text", price="9.50", active=False)
    run_import("sku,name\nabc-1,New\n")
    product = Product.objects.get()
    assert (product.sku, product.name, product.description, str(product.price), product.active) == (
        "abc-1", "New", "Old text", "9.50", False
    )
    run_import("sku,name,description,price\nabc-1,New,,\n")
    product.refresh_from_db()
    assert (product.description, product.price, product.active) == ("", None, False)


@pytest.mark.django_db
def test_new_products_are_active_with_prices(run_import):
    """Created products are active and carry the file's price."""
    run_import("name,price,sku\nLamp,19.99,abc-1\n")
    assert Product.objects.values_list("sku", "price", "active").get() == ("abc-1", Decimal("19.99"), True)


@pytest.mark.django_db
def test_rerunning_the_same_file_only_updates(run_import, small_batches):
    """Importing a file twice creates nothing the second time: every product is unchanged."""
    content = "sku,name,description\n" + "".join(f"SKU-{i},Name {i},\"Text, {i}\"\n" for i in range(7))
    first, second = run_import(content), run_import(content)
    assert (first.created_count, first.updated_count, first.unchanged_count) == (7, 0, 0)
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 7)
    assert Product.objects.count() == 7


@pytest.mark.django_db
def test_bom_crlf_and_quoted_newlines_import(run_import):
    """Excel-style files (BOM, CRLF) and multi-line quoted descriptions import intact."""
    job = run_import('\ufeffSKU,Name,Description\r\na,"Lamp, big","Line one\r\nline ""two"""\r\n')
    assert job.status == "completed"
    assert Product.objects.values_list("name", "description").get() == ("Lamp, big", 'Line one\r\nline "two"')


@pytest.mark.django_db
def test_tabs_backslashes_and_null_markers_import_verbatim(run_import):
    """Characters special to COPY's text format (tab, backslash, a literal \\N) arrive unchanged."""
    run_import('sku,name,description\nx\\y,"a\tb","\\N"\nplain,Plain,\n')
    assert sorted(Product.objects.values_list("sku", "name", "description")) == [
        ("plain", "Plain", ""), ("x\\y", "a\tb", "\\N")
    ]


@pytest.mark.django_db
def test_row_errors_are_kept_and_written_to_the_error_csv(run_import, monkeypatch):
    """Bad rows are skipped; the first ones are stored on the job and all of them in the error CSV."""
    monkeypatch.setattr(pipeline, "ROW_ERRORS_KEPT", 2)
    job = run_import("sku,name,price\n,A,1\nb,B,abc\nc," + "n" * 300 + ",1\nd,D,2.5\n")
    assert (job.status, job.created_count, job.skipped_count, job.error_count) == ("completed_with_errors", 1, 3, 3)
    assert list(job.row_errors.values_list("line", "column")) == [(2, "sku"), (3, "price")]
    with job.errors_file.open("rb") as errors:
        lines = errors.read().decode().splitlines()
    assert lines[0] == "line,column,value,message"
    assert lines[2] == "3,price,abc,Price is not a number (write it like 19.99)."
    assert len(lines) == 4


@pytest.mark.django_db
def test_extra_columns_import_with_a_warning(run_import):
    """Unknown columns do not stop the import; the job carries one warning naming them."""
    job = run_import("sku,name,colour\na,A,red\n")
    assert job.status == "completed" and job.warnings == ["Ignored unknown columns: colour."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"name,description\nLamp,Warm\n", "Line 1: The first line must be a header with the columns sku and name"),
        (b"sku,name\na,A\n\x00\x01\x02", "Line 3: The file is binary, not CSV text."),
        ("sku,name\na,A\nb,Café\n".encode("latin-1"), "Line 3: The file is not UTF-8 text"),
    ],
)
def test_unusable_files_fail_the_job_with_the_problem_and_line(run_import, content, message):
    """Empty, header-less, binary and non-UTF-8 files fail with a message naming the problem,
    as a failure of the file, which retrying cannot get past: the retry is refused."""
    job = run_import(content)
    assert (job.status, job.failure, job.can_retry) == ("failed", "file", False)
    assert job.error_message.startswith(message)
    assert job.finished_at is not None
    with pytest.raises(ValidationError, match="Retrying cannot help"):
        services.import_job_retry(job=job)
    assert ImportJob.objects.get(pk=job.pk).status == "failed"


@pytest.mark.django_db
def test_a_job_that_failed_on_its_runs_stopping_can_be_retried(make_job, django_capture_on_commit_callbacks):
    """A job failed after MAX_ATTEMPTS interrupted runs is retryable, and the retry imports it."""
    job = make_job("sku,name\na,A\n")
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=services.MAX_ATTEMPTS)
    job = services.import_job_run(job_id=job.pk)
    assert (job.status, job.failure, job.can_retry) == ("failed", "interrupted", True)
    with django_capture_on_commit_callbacks():
        job = services.import_job_retry(job=job)
    assert (job.status, job.failure) == ("queued", "")
    assert services.import_job_run(job_id=job.pk, task_id=job.celery_task_id).status == "completed"


@pytest.mark.django_db
def test_a_job_that_failed_on_an_unexpected_error_can_be_retried(make_job, monkeypatch):
    """An error that is not the file's (a bug, the database) may not happen again: Retry stays."""

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "import_rows", broken)
    job = services.import_job_run(job_id=make_job("sku,name\na,A\n").pk)
    assert (job.status, job.failure, job.can_retry) == ("failed", "error", True)


@pytest.mark.django_db
def test_cancel_stops_a_running_import_at_the_next_batch(make_job, small_batches):
    """A cancel request lands between batches: rows merged so far stay (search catches up), the rest is not read."""
    job = make_job("sku,name\na,A\nb,B\nc,C\nd,D\ne,E\n")
    finished = services.import_job_run(job_id=job.pk, on_progress=lambda job: services.import_job_cancel(job=job))
    assert (finished.status, finished.rows_processed) == ("cancelled", 2)
    assert Product.objects.count() == 2
    assert product_search_is_behind()


@pytest.mark.django_db
def test_a_cancel_still_writes_the_repeated_rows_held_back(make_job, small_batches):
    """A repeated SKU's row waiting to be merged with later ones is written when a cancel stops the import."""
    job = make_job("sku,name\na,A\nb,B\nA,Again\nc,C\nd,D\ne,E\n")
    seen = []

    def cancel_after_the_second_batch(job):
        seen.append(job.rows_processed)
        if len(seen) == 2:
            services.import_job_cancel(job=job)

    finished = services.import_job_run(job_id=job.pk, on_progress=cancel_after_the_second_batch)
    assert (finished.status, finished.rows_processed, finished.created_count, finished.duplicate_count) == (
        "cancelled", 4, 3, 1
    )
    assert products() == {"a": ("A", "Again", "", None), "b": ("b", "B", "", None), "c": ("c", "C", "", None)}


@pytest.mark.django_db(transaction=True)  # as in production: each batch commits on its own
def test_a_file_that_turns_bad_still_writes_the_repeated_rows_held_back(run_import, monkeypatch):
    """The rows before a file's bad bytes are imported, a repeated SKU's held-back row included."""
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 500)
    filler = [f"f-{n:05d},Filler\n" for n in range(6000)]  # past the parser's first 64 KiB read
    content = ("sku,name\na,A\n" + "".join(filler[:1000]) + "A,Again\n" + "".join(filler[1000:])).encode()
    job = run_import(content + "b,Café\n".encode("latin-1"))
    assert (job.status, job.failure) == ("failed", "file"), job.error_message
    assert products()["a"] == ("A", "Again", "", None)
    assert job.duplicate_count == 1


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # as in production: each batch commits on its own
@pytest.mark.parametrize(("ending", "status"), [("", "completed"), ("b,Café\n", "failed")])
def test_batches_commit_without_waiting_for_the_disk_until_the_job_ends(make_job, monkeypatch, ending, status):
    """The batches commit without flushing the WAL; the job's end, also a file's failure, is
    committed by a session that waits for the disk again."""
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 500)
    filler = "".join(f"f-{n:05d},Filler\n" for n in range(6000))  # past the parser's first 64 KiB read
    seen = []
    job = make_job(f"sku,name\n{filler}".encode() + ending.encode("latin-1"))
    job = services.import_job_run(job_id=job.pk, on_progress=lambda job: seen.append(synchronous_commit()))
    assert job.status == status, job.error_message
    assert len(seen) > 1 and set(seen) == {"off"}
    assert synchronous_commit() == "on"


@pytest.mark.django_db
def test_cancel_of_a_queued_job_is_immediate_and_the_task_then_does_nothing(make_job):
    """A queued job is cancelled at once; a task that still arrives leaves it alone."""
    job = services.import_job_cancel(job=make_job("sku,name\na,A\n"))
    assert job.status == "cancelled"
    assert services.import_job_run(job_id=job.pk).status == "cancelled"
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_retry_runs_a_cancelled_job_again_from_its_file(make_job, django_capture_on_commit_callbacks):
    """Retry queues a cancelled job again (sending its task on commit) and it then imports normally."""
    job = services.import_job_cancel(job=make_job("sku,name\na,A\n"))
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.import_job_retry(job=job)
    assert (job.status, job.attempts, len(callbacks)) == ("queued", 0, 1)
    assert services.import_job_run(job_id=job.pk).status == "completed"
    assert Product.objects.count() == 1


@pytest.mark.django_db
def test_only_failed_or_cancelled_jobs_can_be_retried(run_import):
    """Retrying a completed job is refused."""
    with pytest.raises(ValidationError):
        services.import_job_retry(job=run_import("sku,name\na,A\n"))


@pytest.mark.django_db
def test_a_redelivered_job_runs_again_until_too_many_attempts(make_job):
    """A job left running by a dead worker is run again; after three starts it fails and says why."""
    job = make_job("sku,name\na,A\n")
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=1)
    assert services.import_job_run(job_id=job.pk).status == "completed"
    assert ImportJob.objects.get(pk=job.pk).attempts == 2

    job = make_job("sku,name\nb,B\n")
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=services.MAX_ATTEMPTS)
    failed = services.import_job_run(job_id=job.pk)
    assert failed.status == "failed"
    assert "stopped 3 times" in failed.error_message
    assert not Product.objects.filter(sku="b").exists()


@pytest.mark.django_db
def test_a_job_another_worker_is_running_is_left_alone(make_job, monkeypatch):
    """A duplicate delivery while the job runs elsewhere (its lock held) returns without importing."""
    monkeypatch.setattr(services, "JOB_LOCK_WAIT", timedelta(milliseconds=100))
    job = make_job("sku,name\na,A\n")
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [locks.import_job(job.pk)])
        assert services.import_job_run(job_id=job.pk).status == "queued"
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_a_run_waits_for_the_lock_a_dead_workers_session_still_holds(make_job):
    """A killed worker's session keeps the job's lock until PostgreSQL notices; the run handed
    out again waits for it rather than leave the job to the next recovery sweep."""
    job = make_job("sku,name\na,A\n")
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=1)
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as dying:
        dying.execute("SELECT pg_advisory_lock(%s)", [locks.import_job(job.pk)])
        threading.Timer(0.5, dying.close).start()
        job = services.import_job_run(job_id=job.pk)
    assert (job.status, job.attempts, job.created_count) == ("completed", 2, 1)


def test_uploads_are_limited_by_default_to_one_gibibyte():
    """The upload limit comes from settings, 1 GiB unless configured."""
    assert settings.IMPORT_MAX_UPLOAD_BYTES == 1024**3


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_skus_at_once_both_complete(make_job, run_at_once, monkeypatch):
    """Concurrent imports of the same new SKUs neither deadlock nor fail: batches lock keys in
    sorted order, and a key the other import created meanwhile is merged (the ON CONFLICT path)."""
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 500)
    rows = [f"SKU-{i:04d},Name {i}\n" for i in range(3000)]
    jobs = [make_job("sku,name\n" + "".join(rows)), make_job("sku,name\n" + "".join(rows).lower())]
    assert run_at_once([job.pk for job in jobs]) == []
    results = {job.pk: ImportJob.objects.get(pk=job.pk) for job in jobs}
    assert [results[job.pk].status for job in jobs] == ["completed", "completed"]
    assert Product.objects.count() == 3000
    assert sum(results[job.pk].created_count for job in jobs) == 3000


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content, status",
    [
        ("sku,name\na,A\n", "completed"),
        ("sku,name\na,A\n,No SKU\n", "completed_with_errors"),
        ("name\nNo SKU column\n", "failed"),
    ],
)
def test_an_import_that_ends_asks_for_a_search_catch_up(run_import, content, status):
    """Whatever way an import ends, rows it merged may be unsearchable: it marks search as behind."""
    assert not product_search_is_behind()
    job = run_import(content)
    assert job.status == status
    assert product_search_is_behind()


def reltuples() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'products_product'::regclass")
        return cursor.fetchone()[0]


def reltuples_once_the_worker_caught_up() -> float:
    """reltuples once the worker has run what the last import asked for. Its statistics refresh is
    queued before its search catch-up, and the tests' worker runs one task at a time, in order."""
    deadline = time.monotonic() + 30
    while product_search_is_behind() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not product_search_is_behind()
    return reltuples()


@pytest.mark.django_db(transaction=True)
def test_an_import_that_changes_much_of_the_catalogue_refreshes_its_statistics(run_import, celery_worker):
    """After an import that changed more than a tenth of the products, the worker brings PostgreSQL's
    row count (the list's size estimate) up to date; a small import into a large catalogue leaves it."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")  # earlier tests' counts stay: ANALYZE is not rolled back
    assert reltuples() == 0
    run_import("sku,name\n" + "".join(f"s-{n},S\n" for n in range(300)))
    assert reltuples_once_the_worker_caught_up() == 300
    run_import("sku,name\n" + "".join(f"t-{n},T\n" for n in range(20)))
    assert reltuples_once_the_worker_caught_up() == 300
    run_import("sku,name\n" + "".join(f"u-{n},U\n" for n in range(40)))
    assert reltuples_once_the_worker_caught_up() == 360
