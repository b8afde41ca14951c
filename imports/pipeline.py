"""The streaming loop of an import: parse in a child process, write batch by batch here.

Parsing and validating is Python work; COPY and the merge are PostgreSQL's. The parser process
(imports.parser_process) stays a batch ahead, so on two cores the two overlap, and memory holds
a few batches whatever the file's size.
"""

import contextlib
import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

import psycopg
from django.core.files import File
from django.db import Error, OperationalError, connection, transaction

from imports.models import ImportJob, ImportRowError
from imports.parser_process import ParserProcess
from imports.parsing import Batch, CsvFileError, RowError
from imports.payloads import NO_ROWS, Payloads
from products.bulk import (
    products_bulk_announce,
    products_bulk_append,
    products_bulk_merge,
    products_bulk_settle,
    products_bulk_start,
    products_bulk_subscribers,
)
from products.locks import catalogue_shared_lock
from products.search import product_search_backlog_extend, product_search_backlog_start
from webhooks.events import PRODUCT_CREATED
from webhooks.services import deliveries_enqueue_prepare

# A batch is one transaction; the parser process's memory grows with it (docs/performance.md).
BATCH_ROWS = 30_000
# The database idles until the first batch is parsed: a small first batch starts it sooner, and
# batches double from there up to BATCH_ROWS.
FIRST_BATCH_ROWS = 5_000
ROW_ERRORS_KEPT = 1_000
# A fresh import's batches repeat a few SKUs of earlier ones. Those rows are held back and merged
# together once this many wait: a merge costs about as much for one row as for a few hundred.
HELD_REPEATS_ROWS = 5_000
# A batch that deadlocks with concurrent imports is written again as one ordered merge; that
# merge can only lose to imports still writing out of order, which then retry the same way.
WRITE_ATTEMPTS = 5
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PROGRESS_FIELDS = [
    "stage", "bytes_processed", "rows_processed", "created_count", "updated_count", "unchanged_count",
    "duplicate_count", "skipped_count", "error_count", "updated_at",
]  # fmt: skip


def import_rows(*, job: ImportJob, on_progress: Callable[[ImportJob], None] | None = None) -> bool:
    """Import the job's file into the catalogue; True when it stopped because of a cancel request.

    Each batch is written, counted and its errors logged in one transaction, so a re-run after
    a crash starts from a consistent state (and the upsert makes re-running harmless). A fresh
    import's repeated rows may wait for a later batch's transaction (CatalogueWriter); the end
    of the file, a cancel or a file unreadable part-way (CsvFileError) writes what waits.
    """
    first = min(FIRST_BATCH_ROWS, BATCH_ROWS)
    subscribers = products_bulk_subscribers()
    with (
        job.file.open("rb") as binary,
        RowErrorLog(job=job) as error_log,
        # Cut and compress the new products as their product.created events keep them beside
        # the parsing, if anyone listens.
        ParserProcess(binary, batch_rows=BATCH_ROWS, first_rows=first, events=PRODUCT_CREATED in subscribers) as parser,
        _commits_without_flush(),
    ):
        # What needs no header runs while the parser process starts.
        if subscribers:
            deliveries_enqueue_prepare()
        since = products_bulk_start()
        unindexed_after = product_search_backlog_start()
        header = parser.header()
        job.warnings = header.warnings
        job.stage = ImportJob.Stage.VALIDATING
        job.save(update_fields=["warnings", *PROGRESS_FIELDS])
        writer = CatalogueWriter(columns=set(header.columns), since=since)
        cancelled = False
        with catalogue_shared_lock():
            try:
                for batch, payloads in parser.batches():
                    with transaction.atomic():
                        counts = writer.write(payloads)
                        # The filters find the batch's new products from its commit on.
                        unindexed_after = product_search_backlog_extend(after_id=unindexed_after)
                        error_log.add(batch.errors)
                        _count(job, batch, counts=counts, errors=len(batch.errors))
                        job.save(update_fields=PROGRESS_FIELDS)
                    if on_progress:
                        on_progress(job)
                    # Cooperative cancel: the batch just committed stays, the rest of the file is not read.
                    if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                        cancelled = True
                        break
            except CsvFileError:
                _finish(job, writer)  # the rows before the bad one are imported, as their batches said
                raise
            _finish(job, writer)
    return cancelled


def _finish(job: ImportJob, writer: "CatalogueWriter") -> None:
    """Merge the repeated rows the last batches held back and settle the counts of the SKUs the
    file repeated (CatalogueWriter.finish), in one transaction."""
    with transaction.atomic():
        counts = writer.finish()
        if counts != BatchCounts():
            _count_writes(job, counts)
            job.save(update_fields=PROGRESS_FIELDS)


@contextlib.contextmanager
def _commits_without_flush() -> Iterator[None]:
    """Let this session's commits return without waiting for their WAL to reach the disk, until
    the block ends: set once for the session, not per batch, which would cost a round trip each.

    A crash can then lose the last batches committed, but whole: the job's progress is in the
    same transaction, the job ends with a commit that waits for all of them, and a re-run (the
    upsert is idempotent) writes them again, also sending their product events again.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        # Not in a transaction an error broke: its rollback undoes the SET. A lost session
        # takes the setting with it (the error that lost it is the one to report).
        if not connection.needs_rollback:
            with contextlib.suppress(Error), connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


@dataclass
class BatchCounts:
    """What a batch's valid rows did: created, updated or left unchanged a product, or were
    superseded by a later row of the same SKU in the file (duplicates)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0


class CatalogueWriter:
    """Writes an import's batches, and decides for each whether its new SKUs are appended.

    The SKUs new to the import are COPYed straight in (products_bulk_append). When an append finds
    one in the catalogue after all, its batch is merged instead, and so are the next batches'
    until a merge finds most of its new SKUs really new: a re-import merges from its first
    batch on, while a few clashes (a product made meanwhile, a SKU only PostgreSQL's lower()
    makes equal to an earlier one) cost their own batch a merge only. While someone listens for
    product.created, an append announces its products with the rows it COPYed, as the parser
    cut them into events (or, when someone subscribed during the import, as it cuts them
    itself); a merge's RETURNING feeds the events. The decision is taken here, batch by batch.

    The rows of SKUs an earlier batch had wait beside an appended batch until HELD_REPEATS_ROWS
    of them do or a batch merges anyway; then they are merged with it (its rows come later in
    the file), and announced in its transaction. `last` merges what waits.
    """

    def __init__(self, *, columns: set[str], since: datetime):
        self.columns = columns
        self.appending = True
        self.since = since  # products_bulk_start()'s answer
        self.held = b""  # repeated rows waiting, as products_bulk_merge()'s `repeats`
        self.unsettled = 0

    def finish(self) -> BatchCounts:
        """Merge what waits, then settle the repeats of products the import had written before
        (products_bulk_settle): until then such a SKU counts as its first change left it."""
        counts = self.write(NO_ROWS, last=True) if self.held else BatchCounts()
        if self.unsettled:
            flips = products_bulk_settle()
            counts.updated += flips
            counts.unchanged -= flips
        return counts

    def write(self, payloads: Payloads, *, last: bool = False) -> BatchCounts:
        """Write one batch in the caller's transaction; returns what its rows did, less the
        rows it holds back (counted when they are merged).

        An append locks its keys, then the merge the others: two runs in key order, which can
        deadlock with another import writing the same keys. The loser rolls its batch back and
        writes it again as one merge, which locks every key in order. A batch that only appends
        (nobody listens, its repeats wait) needs no savepoint for that: products_bulk_append()
        rolls back to its own, and a batch whose append failed is then written like any other.
        """
        subscribers = products_bulk_subscribers()
        appends_only = not subscribers and self._holds(payloads, firsts=b"", last=last)
        if appends_only and self._append(payloads, subscribers=subscribers):
            return self._hold(payloads, created=payloads.new_count)
        attempt = 1
        while True:
            try:
                with transaction.atomic():
                    return self._write(payloads, subscribers=subscribers, append=attempt == 1, last=last)
            except OperationalError as error:
                if not isinstance(error.__cause__, psycopg.errors.DeadlockDetected) or attempt == WRITE_ATTEMPTS:
                    raise
            attempt += 1

    def _write(
        self, payloads: Payloads, *, subscribers: dict[str, list[int]], append: bool, last: bool
    ) -> BatchCounts:
        appended = append and self._append(payloads, subscribers=subscribers)
        firsts, first_lines = (b"", "") if appended else (payloads.new, payloads.new_lines)
        if self._holds(payloads, firsts=firsts, last=last):
            return self._hold(payloads, created=payloads.new_count if appended else 0)
        counts = BatchCounts(created=payloads.new_count if appended else 0, duplicates=payloads.duplicates)
        repeats = self.held + payloads.merge
        if firsts or repeats:
            result = products_bulk_merge(
                firsts=firsts,
                first_lines=first_lines,
                repeats=repeats,
                repeats_at=None if self.held else payloads.merge_at,  # the held rows are not in the batch's order
                columns=self.columns,
                with_products=bool(subscribers),
                since=self.since,
            )
            if subscribers:
                products_bulk_announce(result=result, subscribers=subscribers)
            if firsts and append:  # merged because an append failed, or had failed before
                self.appending = 2 * result.created > payloads.new_count
            counts.created += result.created
            counts.updated, counts.unchanged = result.updated, result.unchanged
            counts.duplicates += result.duplicates
            self.unsettled += result.unsettled
        self.held = b""
        return counts

    def _holds(self, payloads: Payloads, *, firsts: bytes, last: bool) -> bool:
        """Whether the batch's repeats wait for a later batch: nothing else of it is merged (no
        `firsts`), it is not the last, and fewer than HELD_REPEATS_ROWS would then wait."""
        return not (firsts or last) and self.held.count(b"\n") + payloads.merge.count(b"\n") < HELD_REPEATS_ROWS

    def _hold(self, payloads: Payloads, *, created: int) -> BatchCounts:
        self.held += payloads.merge
        return BatchCounts(created=created, duplicates=payloads.duplicates)

    def _append(self, payloads: Payloads, *, subscribers: dict[str, list[int]]) -> bool:
        """Append the batch's new SKUs if this import still appends; False when they must be merged."""
        if not (payloads.new and self.appending):
            return False
        self.appending = products_bulk_append(
            payload=payloads.new, announce=subscribers.get(PRODUCT_CREATED), event_rows=payloads.new_events
        )
        return self.appending


def _count(job: ImportJob, batch: Batch, *, counts: BatchCounts, errors: int) -> None:
    job.stage = ImportJob.Stage.IMPORTING
    job.bytes_processed = batch.bytes_read
    job.rows_processed += batch.rows_read
    job.skipped_count += batch.rows_skipped
    job.error_count += errors
    _count_writes(job, counts)


def _count_writes(job: ImportJob, counts: BatchCounts) -> None:
    job.created_count += counts.created
    job.updated_count += counts.updated
    job.unchanged_count += counts.unchanged
    # A product another import rewrote between this import's two rows of its SKU can move
    # between updated and unchanged once too often; the rows still add up.
    for more, fewer in (("updated_count", "unchanged_count"), ("unchanged_count", "updated_count")):
        if getattr(job, fewer) < 0:
            setattr(job, more, getattr(job, more) + getattr(job, fewer))
            setattr(job, fewer, 0)
    job.duplicate_count += counts.duplicates


def csv_cell(text: str) -> str:
    """`text` as a spreadsheet shows it, never runs it: a leading quote makes a formula plain text."""
    return f"'{text}" if text.startswith(FORMULA_TRIGGERS) else text


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
        self._writer.writerows(
            (error.line, csv_cell(error.column), csv_cell(error.value), csv_cell(error.message)) for error in errors
        )
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
