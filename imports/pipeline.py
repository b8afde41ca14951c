"""The streaming loop of an import: parse in a background thread, write batch by batch here.

Parsing and validating is Python work; COPY and the merge are PostgreSQL's. The parser runs
one batch ahead in a thread (psycopg releases the GIL while it waits for the server), so on two
cores the two overlap, and memory holds at most three batches whatever the file's size.
"""

import contextlib
import csv
import ctypes
import gc
import io
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import PurePath

from django.core.files import File
from django.db import connection, transaction

from imports.models import ImportJob, ImportRowError
from imports.parsing import Batch, ProductCsv, RowError
from imports.upsert import (
    copy_payload,
    products_append,
    products_changed_emit,
    products_changed_subscribed,
    products_merge,
    staging_payload,
)
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

    Each batch is written, counted and its errors logged in one transaction, so a re-run after
    a crash starts from a consistent state (and the upsert makes re-running harmless).
    """
    with job.file.open("rb") as binary, RowErrorLog(job=job) as error_log:
        product_csv = ProductCsv(binary)
        columns = set(product_csv.columns)
        job.warnings = product_csv.warnings
        job.stage = ImportJob.Stage.VALIDATING
        job.save(update_fields=["warnings", *PROGRESS_FIELDS])
        first = min(FIRST_BATCH_ROWS, BATCH_ROWS)
        router = SkuRouter()
        batches = _in_background(router.payloads(product_csv.batches(BATCH_ROWS, first=first)))
        with contextlib.closing(batches), catalogue_shared_lock():
            for batch, payloads in batches:
                with transaction.atomic():
                    _commit_without_flush()
                    created = _write(payloads, columns=columns, router=router)
                    error_log.add(batch.errors)
                    _count(job, batch, created=created, errors=len(batch.errors))
                    job.save(update_fields=PROGRESS_FIELDS)
                if on_progress:
                    on_progress(job)
                # Cooperative cancel: the batch just committed stays, the rest of the file is not read.
                if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                    return True
    return False


def _commit_without_flush() -> None:
    """Let the current transaction commit without waiting for its WAL to reach the disk.

    A batch commits in ~1 ms instead of waiting for the disk (~0.15 s per 500k rows). A crash
    can then lose the last batches committed, but whole: the job's progress is in the same
    transaction, the job ends with a commit that waits for all of them, and a re-run (the
    upsert is idempotent) writes them again, also sending their product events again.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


@dataclass(frozen=True)
class Payloads:
    """One batch's valid rows, the last of each SKU, as COPY text: `new` for products_append()
    (with their lines apart, in case it must merge them after all), `merge` for products_merge()."""

    new: bytes
    new_count: int
    new_lines: str  # of the rows in `new`, in the same order, one per line: a compact str, not a list
    merge: bytes

    @property
    def new_for_merge(self) -> bytes:
        return staging_payload(self.new, self.new_lines.split("\n"))


class SkuRouter:
    """Sends the rows whose SKU no earlier batch of the import had to products_append(), the
    rest to products_merge(); merges everything once an append found its SKUs in the catalogue
    (a re-import, say) or someone listens for product events. The parser's thread builds the
    payloads; the importing thread writes them and turns `appending` off, and a batch the
    parser split meanwhile is then merged whole.

    The SKUs already seen are kept as a one-hash Bloom filter in a fixed 8 MiB, whatever the
    file's size: a SKU is never wrongly called new, and one wrongly called seen (under 1% of
    them at 500k SKUs, 3% at 2M) only takes the slower merge.
    """

    BITS = 1 << 26

    def __init__(self):
        self.appending = True
        self._seen = bytearray(self.BITS // 8)

    def payloads(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, Payloads]]:
        for batch in batches:
            payloads = self._payloads(batch.rows)
            batch.rows.clear()  # the payloads hold them now; keep one copy in memory
            yield batch, payloads

    def _payloads(self, rows: list[tuple]) -> Payloads:
        # The last row of each SKU, and both payloads sorted by key: work done here, in the
        # parser's thread, that the database then finds already done (COPY into a unique index
        # in key order is ~25% faster than in file order; the merge's sort checks for presorted
        # input first). The merge still collapses and sorts by PostgreSQL's lower(), which the
        # unique index uses.
        latest = {row[0].lower(): row for row in rows}
        if self.appending:
            (new_keys, new_rows), (seen_keys, seen_rows) = self._split(latest)
        else:
            new_keys, new_rows, seen_keys, seen_rows = [], [], list(latest), list(latest.values())
        new_order = _key_order(new_keys)
        return Payloads(
            new=copy_payload(new_rows, new_order, lines=False),
            new_count=len(new_rows),
            new_lines="\n".join(map(itemgetter(4), map(new_rows.__getitem__, new_order))),
            merge=copy_payload(seen_rows, _key_order(seen_keys), lines=True),
        )

    def _split(self, rows_by_key: dict[str, tuple]) -> tuple[tuple[list, list], tuple[list, list]]:
        """The keys and rows as (new keys, their rows), (seen keys, their rows); records the
        keys as seen. File order, which reads memory in sequence."""
        bits, mask = self._seen, self.BITS - 1
        new_keys, new_rows, seen_keys, seen_rows = [], [], [], []
        for key, row in rows_by_key.items():
            position = hash(key) & mask  # a str caches its hash: the dict computed it already
            byte, bit = position >> 3, 1 << (position & 7)
            if bits[byte] & bit:
                seen_keys.append(key)
                seen_rows.append(row)
            else:
                bits[byte] |= bit
                new_keys.append(key)
                new_rows.append(row)
        return (new_keys, new_rows), (seen_keys, seen_rows)


def _key_order(keys: list[str]) -> list[int]:
    """The positions of `keys` in sorted order."""
    return sorted(range(len(keys)), key=keys.__getitem__)


def _write(payloads: Payloads, *, columns: set[str], router: SkuRouter) -> int:
    """Write one batch in the caller's transaction; returns how many products it created."""
    with_products = products_changed_subscribed()
    if with_products:
        router.appending = False  # product events need the merge's RETURNING, from here on
    appended = False
    if payloads.new and router.appending:
        appended = router.appending = products_append(payload=payloads.new)
    merge = payloads.merge if appended or not payloads.new else payloads.new_for_merge + payloads.merge
    created = payloads.new_count if appended else 0
    if merge:
        result = products_merge(payload=merge, columns=columns, with_products=with_products)
        if with_products:
            products_changed_emit(result=result)
        created += result.created
    return created


def _count(job: ImportJob, batch: Batch, *, created: int, errors: int) -> None:
    job.stage = ImportJob.Stage.IMPORTING
    job.bytes_processed = batch.bytes_read
    job.rows_processed += batch.rows_read
    job.created_count += created
    # Every valid row that did not create a product overwrote one, also a duplicate in its batch.
    job.updated_count += batch.rows_read - batch.rows_skipped - created
    job.skipped_count += batch.rows_skipped
    job.error_count += errors


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
    with _import_tuning():
        thread.start()
        try:
            while (item := handoff.get()) is not _DONE:
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            stop.set()
            thread.join()


class _InterpreterTuning:
    """Two process-wide interpreter settings that suit an import, held only while some import's
    parser runs (counted: imports may overlap in one process), then restored; and malloc's
    mmap threshold, set at the first import.

    - The GIL switch interval. CPython hands the GIL from a busy thread to a waiting one only
      after it (default 5 ms). The importing thread waits for it after every round trip to the
      database (~10 per batch, several GIL releases each) while the parser thread computes:
      0.5 ms instead of 5 ms took 0.3-0.45 s off a 500k-row import.
    - The garbage collector's first threshold. Parsing makes millions of lists and tuples that
      form no reference cycles; at the default 700 allocations the collector ran ~2,200 times
      for 500k rows, 0.9 s of the parser's 2.4 s. At 100,000 it runs a few dozen times.
    """

    SWITCH_INTERVAL = 0.0005
    GC_THRESHOLD = 100_000
    # glibc's malloc raises its mmap threshold to the size of each large block freed, so a
    # batch's multi-megabyte buffers come from the two threads' heaps, which fragment. 500k-row
    # re-imports peaked at 141-153 MB RSS (median 146, 6 runs); with large blocks always mapped,
    # a median of 132 (12 runs), though 3 runs still peaked at 148-155; fresh imports 134 -> 130.
    # Set once and left: it suits any process that runs imports.
    MMAP_THRESHOLD = 256 * 1024

    def __init__(self):
        self._lock = threading.Lock()
        self._malloc_tuned = False
        self._users = 0
        self._saved_interval = 0.0
        self._saved_threshold = (0, 0, 0)

    @contextlib.contextmanager
    def __call__(self):
        with self._lock:
            if not self._malloc_tuned:
                _malloc_mmap_threshold_set(self.MMAP_THRESHOLD)
                self._malloc_tuned = True
            if not self._users:
                self._saved_interval, self._saved_threshold = sys.getswitchinterval(), gc.get_threshold()
                sys.setswitchinterval(min(self._saved_interval, self.SWITCH_INTERVAL))
                gc.set_threshold(max(self._saved_threshold[0], self.GC_THRESHOLD), *self._saved_threshold[1:])
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if not self._users:
                    sys.setswitchinterval(self._saved_interval)
                    gc.set_threshold(*self._saved_threshold)


M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def _malloc_mmap_threshold_set(size: int) -> None:
    """Serve blocks of `size` bytes and more from their own mappings (glibc; elsewhere a no-op)."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, size)


_import_tuning = _InterpreterTuning()


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
