"""The streaming loop of an import: parse in a background thread, merge batch by batch here.

Parsing and validating is Python work; COPY and the merge are PostgreSQL's. The parser runs
one batch ahead in a thread (psycopg releases the GIL while it waits for the server), so on two
cores the two overlap, and memory holds at most three batches whatever the file's size.
"""

import contextlib
import csv
import io
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePath

from django.core.files import File
from django.db import transaction

from imports.models import ImportJob, ImportRowError
from imports.parsing import Batch, ProductCsv, RowError
from imports.upsert import products_changed_emit, products_changed_subscribed, products_merge, staging_payload
from products.locks import catalogue_shared_lock

BATCH_ROWS = 50_000
# The database idles until the first batch is parsed (~0.15 s for 50,000 rows): a smaller
# first batch starts it sooner (re-importing 500k rows ~0.1 s faster).
FIRST_BATCH_ROWS = 5_000
ROW_ERRORS_KEPT = 1_000
PROGRESS_FIELDS = [
    "stage", "bytes_processed", "rows_processed", "created_count", "updated_count", "skipped_count",
    "error_count", "updated_at",
]  # fmt: skip


def import_rows(*, job: ImportJob, on_progress: Callable[[ImportJob], None] | None = None) -> bool:
    """Import the job's file into the catalogue; True when it stopped because of a cancel request.

    Each batch is merged, counted and its errors logged in one transaction, so a re-run after a
    crash starts from a consistent state (and the upsert makes re-running harmless).
    """
    with job.file.open("rb") as binary, RowErrorLog(job=job) as error_log:
        product_csv = ProductCsv(binary)
        columns = set(product_csv.columns)
        job.warnings = product_csv.warnings
        job.stage = ImportJob.Stage.VALIDATING
        job.save(update_fields=["warnings", *PROGRESS_FIELDS])
        first = min(FIRST_BATCH_ROWS, BATCH_ROWS)
        batches = _in_background(_with_payloads(product_csv.batches(BATCH_ROWS, first=first)))
        with contextlib.closing(batches), catalogue_shared_lock():
            for batch, payload in batches:
                with transaction.atomic():
                    created = 0
                    if payload:
                        with_products = products_changed_subscribed()
                        result = products_merge(payload=payload, columns=columns, with_products=with_products)
                        if with_products:
                            products_changed_emit(result=result)
                        created = result.created
                    error_log.add(batch.errors)
                    _count(job, batch, created=created, errors=len(batch.errors))
                    job.save(update_fields=PROGRESS_FIELDS)
                if on_progress:
                    on_progress(job)
                # Cooperative cancel: the batch just committed stays, the rest of the file is not read.
                if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                    return True
    return False


def _count(job: ImportJob, batch: Batch, *, created: int, errors: int) -> None:
    job.stage = ImportJob.Stage.IMPORTING
    job.bytes_processed = batch.bytes_read
    job.rows_processed += batch.rows_read
    job.created_count += created
    # Every valid row that did not create a product overwrote one, also a duplicate in its batch.
    job.updated_count += batch.rows_read - batch.rows_skipped - created
    job.skipped_count += batch.rows_skipped
    job.error_count += errors


def _with_payloads(batches: Iterable[Batch]) -> Iterator[tuple[Batch, bytes]]:
    for batch in batches:
        payload = staging_payload(_latest_by_key(batch.rows)) if batch.rows else b""
        batch.rows.clear()  # the payload holds them now; keep one copy in memory
        yield batch, payload


def _latest_by_key(rows: list[tuple]) -> list[tuple]:
    """The last row of each SKU, sorted by key: work done here, in the parser's thread, that the
    database then finds already done (its sort checks for presorted input first). The merge
    still collapses and sorts by PostgreSQL's lower(), which is what the unique index uses."""
    latest = {row[1].lower(): row for row in rows}
    return [latest[key] for key in sorted(latest)]


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


def _in_background(items: Iterable, *, ahead: int = 1) -> Iterator:
    """Iterate `items` in a thread that stays `ahead` items in front of the consumer."""
    handoff: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failed(error))

    thread = threading.Thread(target=produce, name="import-parser", daemon=True)
    with _short_gil_switches():
        thread.start()
        try:
            while (item := handoff.get()) is not _DONE:
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            stop.set()
            thread.join()


class _GilSwitchInterval:
    """CPython hands the GIL from a busy thread to a waiting one only after the switch interval
    (default 5 ms). The importing thread waits for it after every round trip to the database
    (~10 per batch, several GIL releases each) while the parser thread computes: 0.5 ms instead
    of 5 ms took 0.3-0.45 s off a 500k-row import. The setting is process-wide, so it holds
    only while some import's parser runs (counted: imports may overlap in one process)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    @contextlib.contextmanager
    def __call__(self):
        with self._lock:
            if not self._users:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, self.seconds))
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if not self._users:
                    sys.setswitchinterval(self._saved)


_short_gil_switches = _GilSwitchInterval(0.0005)


class RowErrorLog:
    """Every row error goes to a CSV file saved beside the job; the first ones also to the database."""

    def __init__(self, *, job: ImportJob):
        self.job = job
        self.count = 0
        self._binary = tempfile.TemporaryFile()
        self._text = io.TextIOWrapper(self._binary, encoding="utf-8", newline="")
        self._writer = csv.writer(self._text)
        self._writer.writerow(["line", "column", "value", "message"])

    def __enter__(self):
        return self

    def add(self, errors: list[RowError]) -> None:
        if not errors:
            return
        self._writer.writerows((error.line, error.column, error.value, error.message) for error in errors)
        kept = errors[: max(0, ROW_ERRORS_KEPT - self.count)]
        ImportRowError.objects.bulk_create(
            ImportRowError(job=self.job, line=e.line, column=e.column, value=e.value, message=e.message)
            for e in kept
        )
        self.count += len(errors)

    def __exit__(self, *exc_info):
        """Save what was logged, also when the import stopped half-way."""
        with self._text:
            if self.count:
                self._text.flush()
                self._binary.seek(0)
                name = f"{PurePath(self.job.original_name).stem}-errors.csv"
                self.job.errors_file.save(name, File(self._binary), save=False)
                self.job.save(update_fields=["errors_file"])
