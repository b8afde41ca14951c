"""Writes of the imports app: stage a file, run, cancel and retry its import job."""

import logging
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

import psycopg
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from imports.models import ImportJob
from imports.parsing import CsvFileError
from imports.pipeline import import_rows
from imports.selectors import import_job_counts
from products.search import product_search_catch_up_soon
from webhooks import events
from webhooks import services as webhook_services

logger = logging.getLogger(__name__)

# A worker killed mid-import (out of memory, redeploy) makes the broker hand the task out again;
# after this many starts the job is failed instead of looping forever.
MAX_ATTEMPTS = 3
# A running job whose heartbeat (updated_at, bumped every batch) is older than this, and whose
# run lock nobody holds, lost its worker without the broker noticing: the sweep re-queues it.
STALE_AFTER = timedelta(minutes=5)
# Names the per-job advisory locks among the database's advisory locks (the first key).
JOB_LOCK_CLASS = 7_240_002
# How long a run waits for the job's lock. A worker process killed mid-import leaves its
# database session, and the lock, behind until PostgreSQL notices the closed connection, at
# its next read or write: after a long statement, maybe after Celery has handed the task out
# again. Without the wait the new run would find the lock taken and leave the job to the
# stale-job sweep (STALE_AFTER).
JOB_LOCK_WAIT = "30s"
FILE_DELETED_MESSAGE = "The uploaded file has been deleted (files are kept for a limited time): upload it again."


def import_job_create(*, file: File, name: str, user: AbstractBaseUser | None, enqueue: bool = True) -> ImportJob:
    """Stage `file` in storage as a new queued job; the task is sent when the transaction commits."""
    job = ImportJob(original_name=name, size=file.size, created_by=user)
    # Storage streams the file (FileSystemStorage moves an upload's temporary file).
    job.file.save(name, file, save=False)
    job.save()
    if enqueue:
        import_job_enqueue(job=job)
    return job


def import_job_enqueue(*, job: ImportJob) -> None:
    from imports.tasks import import_job_run_task  # tasks import this module

    task_id = str(uuid.uuid4())
    ImportJob.objects.filter(pk=job.pk).update(celery_task_id=task_id)
    job.celery_task_id = task_id
    transaction.on_commit(lambda: import_job_run_task.apply_async(args=[job.pk], task_id=task_id))


def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """A queued job stops at once; a running one at its next batch (rows already merged stay)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.has_ended:
            raise ValidationError("This import has already ended.")
        if job.status == ImportJob.Status.QUEUED:
            job.status = ImportJob.Status.CANCELLED
            job.finished_at = timezone.now()
        job.cancel_requested = True
        job.save()
    return job


def import_job_retry(*, job: ImportJob) -> ImportJob:
    """Run a failed or cancelled job again from its staged file."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.file_deleted:
            raise ValidationError(FILE_DELETED_MESSAGE)
        if not job.can_retry:
            raise ValidationError("Only a failed or cancelled import can be retried.")
        job.status = ImportJob.Status.QUEUED
        job.stage = ImportJob.Stage.UPLOADING
        job.cancel_requested = False
        job.attempts = 0
        job.error_message = ""
        _progress_reset(job)
        job.started_at = job.finished_at = None
        job.save()
        import_job_enqueue(job=job)
    return job


def import_files_purge(*, older_than: timedelta) -> int:
    """Beat sweep: delete the staged uploads of ended jobs uploaded more than `older_than` ago.

    The job, its row errors and its errors file stay: the history keeps every import, but a
    job without its file can no longer be retried. Returns how many files were deleted.
    """
    cutoff = timezone.now() - older_than
    expired = ImportJob.objects.filter(status__in=ImportJob.ENDED, created_at__lt=cutoff).exclude(file="")
    deleted = 0
    for job_id in expired.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            # Locked and checked again: a retry may have queued the job since it was listed.
            job = ImportJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
            if job is None or not job.has_ended or job.file_deleted:
                continue
            job.file.delete(save=False)  # a failure rolls back; the next sweep tries again
            ImportJob.objects.filter(pk=job_id).update(file="")
            deleted += 1
    return deleted


def import_job_run(*, job_id: int, on_progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Run the import of one job: what the task, the management command and the tests call.

    Safe to call twice: a second call while the first runs waits for its per-job lock, up to
    JOB_LOCK_WAIT, then returns without importing; a call for an ended job does nothing, and
    re-importing rows is an idempotent upsert.
    """
    with _job_run_lock(job_id, wait=JOB_LOCK_WAIT) as acquired:
        if not acquired:
            logger.info("Import job %s is already running elsewhere.", job_id)
            return ImportJob.objects.get(pk=job_id)
        job = _job_start(job_id)
        if job.status != ImportJob.Status.RUNNING:
            return job
        try:
            cancelled = import_rows(job=job, on_progress=on_progress)
        except CsvFileError as error:
            return _job_fail(job, str(error))
        except Exception:
            logger.exception("Import job %s failed.", job_id)
            return _job_fail(job, "The import stopped on an unexpected error; the logs have the details.")
        return _job_finish(job, cancelled=cancelled)


@contextmanager
def _job_run_lock(job_id: int, *, wait: str = ""):
    """A session lock that dies with its connection: a dead worker never blocks the next run.
    Waits up to `wait` (a PostgreSQL interval) for it, else takes it only if it is free."""
    with connection.cursor() as cursor:
        if wait:
            acquired = _advisory_lock_wait(cursor, job_id, wait)
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job_id])
            acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCK_CLASS, job_id])


def _advisory_lock_wait(cursor, job_id: int, wait: str) -> bool:
    try:
        with transaction.atomic():  # the session lock outlives it; lock_timeout does not
            cursor.execute(f"SET LOCAL lock_timeout = '{wait}'")
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job_id])
    except OperationalError as error:
        if isinstance(error.__cause__, psycopg.errors.LockNotAvailable):
            return False
        raise
    return True


def _job_start(job_id: int) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.has_ended:
            return job  # a duplicate delivery, or cancelled while queued
        if job.status == ImportJob.Status.RUNNING and job.attempts >= MAX_ATTEMPTS:
            return _job_fail(
                job,
                f"The worker running this import stopped {job.attempts} times before it finished "
                "(killed, out of memory or restarted), so it was not started again. Retry to run it once more.",
            )
        if job.cancel_requested:
            return _job_finish(job, cancelled=True)
        job.errors_file.delete(save=False)
        job.row_errors.all().delete()
        job.attempts += 1
        job.status = ImportJob.Status.RUNNING
        job.stage = ImportJob.Stage.PARSING
        job.started_at = timezone.now()
        _progress_reset(job)
        job.error_message = ""
        job.save()
    return job


def _progress_reset(job: ImportJob) -> None:
    """Forget what an earlier run read and counted (its speed follows from these and started_at)."""
    job.bytes_processed = job.rows_processed = job.error_count = 0
    job.created_count = job.updated_count = job.unchanged_count = job.duplicate_count = job.skipped_count = 0
    job.warnings = []


def _job_finish(job: ImportJob, *, cancelled: bool) -> ImportJob:
    if cancelled:
        job.status = ImportJob.Status.CANCELLED
    elif job.error_count:
        job.status = ImportJob.Status.COMPLETED_WITH_ERRORS
    else:
        job.status = ImportJob.Status.COMPLETED
    if not cancelled:
        job.stage = ImportJob.Stage.FINISHING
        job.bytes_processed = job.size
    job.finished_at = timezone.now()
    with transaction.atomic():
        job.save(update_fields=["status", "stage", "bytes_processed", "finished_at", "updated_at"])
        # Imported products become searchable when a worker catches up (products.search).
        product_search_catch_up_soon()
        if not cancelled:
            webhook_services.emit(events.UPLOAD_COMPLETED, _upload_event_data(job))
    return job


def _job_fail(job: ImportJob, message: str) -> ImportJob:
    job.status = ImportJob.Status.FAILED
    job.error_message = message
    job.finished_at = timezone.now()
    with transaction.atomic():
        job.save(update_fields=["status", "error_message", "finished_at", "updated_at"])
        product_search_catch_up_soon()  # batches merged before the failure stay
        webhook_services.emit(events.UPLOAD_FAILED, {"job": job.pk, "file": job.original_name, "error": message})
    return job


def _upload_event_data(job: ImportJob) -> dict:
    return {
        "job": job.pk,
        "file": job.original_name,
        "status": job.status,
        "rows": job.rows_processed,
        **import_job_counts(job=job),
        "errors": job.error_count,
        "duration_seconds": job.duration.total_seconds() if job.duration else None,
    }


def import_jobs_requeue_stale() -> int:
    """Beat sweep: re-queue running jobs that lost their worker unnoticed (the task counts attempts)."""
    stale = ImportJob.objects.filter(
        status=ImportJob.Status.RUNNING, updated_at__lt=timezone.now() - STALE_AFTER
    )
    requeued = 0
    for job in stale:
        with _job_run_lock(job.pk) as acquired:
            if acquired:  # nobody is running it
                with transaction.atomic():
                    import_job_enqueue(job=job)
                requeued += 1
    return requeued
