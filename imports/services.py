"""Writes of the imports app: stage a file, run, cancel and retry its import job.

The database, not the broker, says which jobs still have to run. A run holds its job's session
advisory lock from start to end, and PostgreSQL drops that lock with the session when the worker
dies or the database restarts. So a job that has not ended and whose lock is free has nobody
running it: `import_jobs_recover` (beat, and every worker as it starts) sends it again. Each send
names the job's message (`celery_task_id`); a run started by any older message of the job does
nothing, and a run re-checks the job under its lock, so a message sent twice never runs it twice.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

import pglock
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from config import locks
from imports.models import ImportJob
from imports.parsing import CsvFileError
from imports.pipeline import import_rows
from imports.selectors import import_job_counts
from products.bulk import products_bulk_analyze_soon
from products.search import product_search_catch_up_soon
from webhooks import events
from webhooks import services as webhook_services

logger = logging.getLogger(__name__)

# A run that dies (worker killed, out of memory, database restart) is started again; after this
# many starts the job is failed instead of looping forever on a file that kills its worker.
MAX_ATTEMPTS = 3
# A queued job not started this long after its message was sent may have lost that message
# (Redis restarted without persistence, a failover): the sweep sends it again.
QUEUED_RESEND_AFTER = timedelta(seconds=30)
# How long a run waits for the job's lock. A worker process killed mid-import leaves its
# database session, and the lock, behind until PostgreSQL notices the closed connection, at
# its next read or write: maybe after Celery has handed the task out again, which then runs
# at once instead of at the next recovery sweep.
JOB_LOCK_WAIT = timedelta(seconds=30)
FILE_DELETED_MESSAGE = "The uploaded file has been deleted (files are kept for a limited time): upload it again."


class ImportInterrupted(Exception):
    """The run lost its database session: nothing can be recorded now, and its lock went with
    the session, so the recovery sweep starts the job again once the database answers."""


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
    # updated_at dates the send, which a queued job's recovery goes by (QUEUED_RESEND_AFTER).
    ImportJob.objects.filter(pk=job.pk).update(celery_task_id=task_id, updated_at=timezone.now())
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
            if job.failure == ImportJob.Failure.FILE:
                raise ValidationError(
                    "Retrying cannot help: the file itself cannot be imported. Fix it and upload it again."
                )
            raise ValidationError("Only a failed or cancelled import can be retried.")
        job.status = ImportJob.Status.QUEUED
        job.stage = ImportJob.Stage.UPLOADING
        job.cancel_requested = False
        job.attempts = 0
        job.error_message = ""
        job.failure = ""
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


def import_job_run(
    *, job_id: int, task_id: str | None = None, on_progress: Callable[[ImportJob], None] | None = None
) -> ImportJob:
    """Run the import of one job: what the task, the management command and the tests call.

    Safe to call twice: a second call while the first runs waits for its per-job lock, up to
    JOB_LOCK_WAIT, then returns without importing; a call for an ended job, or from a message
    (`task_id`) the job has been sent again since, does nothing; and re-importing rows is an
    idempotent upsert. Raises ImportInterrupted when the database session is lost.
    """
    if task_id and not ImportJob.objects.filter(pk=job_id, celery_task_id=task_id).exists():
        logger.info("Import job %s was sent again after task %s; that task does nothing.", job_id, task_id)
        return ImportJob.objects.get(pk=job_id)
    connection.ensure_connection()
    session = connection.connection  # the job's lock lives and dies with this database session
    try:
        with pglock.advisory(locks.import_job(job_id), timeout=JOB_LOCK_WAIT) as acquired:
            if not acquired:
                logger.info("Import job %s is already running elsewhere.", job_id)
                return ImportJob.objects.get(pk=job_id)
            job = _job_start(job_id, task_id=task_id)
            if job is None:
                return ImportJob.objects.get(pk=job_id)
            try:
                cancelled = import_rows(job=job, on_progress=on_progress)
            except CsvFileError as error:
                return _job_fail(job, str(error), failure=ImportJob.Failure.FILE)
            except Exception:
                if session.closed:
                    raise
                logger.exception("Import job %s failed.", job_id)
                message = "The import stopped on an unexpected error; the logs have the details."
                return _job_fail(job, message, failure=ImportJob.Failure.ERROR)
            return _job_finish(job, cancelled=cancelled)
    except Exception as error:  # psycopg's own errors too: COPY goes through its cursor
        if session.closed:
            connection.close()  # dead: whatever runs next in this process connects afresh
            raise ImportInterrupted(f"Import job {job_id} lost its database session ({error})") from error
        raise


def _job_start(job_id: int, *, task_id: str | None) -> ImportJob | None:
    """Mark the job running for one more attempt; None when this run has nothing to do."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.has_ended or (task_id and job.celery_task_id != task_id):
            return None  # a duplicate message, or cancelled while queued
        if job.status == ImportJob.Status.RUNNING and job.attempts >= MAX_ATTEMPTS:
            _job_fail(
                job,
                f"The import stopped {job.attempts} times before it finished (its worker was killed, ran out "
                "of memory or restarted, or the database restarted), so it was not started again. "
                "Retry to run it once more.",
                failure=ImportJob.Failure.INTERRUPTED,
            )
            return None
        if job.cancel_requested:
            _job_finish(job, cancelled=True)
            return None
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
        _workers_catch_up(job)
        if not cancelled:
            webhook_services.emit(events.UPLOAD_COMPLETED, _upload_event_data(job))
    return job


def _job_fail(job: ImportJob, message: str, *, failure: ImportJob.Failure) -> ImportJob:
    job.status = ImportJob.Status.FAILED
    job.error_message = message
    job.failure = failure
    job.finished_at = timezone.now()
    with transaction.atomic():
        job.save(update_fields=["status", "error_message", "failure", "finished_at", "updated_at"])
        _workers_catch_up(job)  # batches merged before the failure stay
        webhook_services.emit(events.UPLOAD_FAILED, {"job": job.pk, "file": job.original_name, "error": message})
    return job


def _workers_catch_up(job: ImportJob) -> None:
    """Once the job's end commits, workers refresh the products' statistics if the import changed
    much of the table, and make the imported products searchable (products.search)."""
    products_bulk_analyze_soon(changed=job.created_count + job.updated_count)
    product_search_catch_up_soon()


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


def import_jobs_recover() -> int:
    """Send again every job that has not ended and that nobody runs; returns how many.

    Running jobs whose lock is free lost their run. Queued ones whose lock is free and whose
    message is older than QUEUED_RESEND_AFTER may have lost their message. Each is checked again
    under its lock, which a run starting meanwhile would hold.
    """
    recovered = 0
    for job_id in ImportJob.objects.filter(_unattended()).values_list("pk", flat=True):
        with pglock.advisory(locks.import_job(job_id), timeout=0) as free:
            if not free:
                continue
            with transaction.atomic():
                job = ImportJob.objects.select_for_update().filter(_unattended(), pk=job_id).first()
                if job is not None:
                    logger.warning("Import job %s (%s) has nobody running it: sending it again.", job_id, job.status)
                    import_job_enqueue(job=job)
                    recovered += 1
    return recovered


def _unattended() -> Q:
    """Jobs that should be running or soon be, if their lock says that nobody runs them."""
    return Q(status=ImportJob.Status.RUNNING) | Q(
        status=ImportJob.Status.QUEUED, updated_at__lt=timezone.now() - QUEUED_RESEND_AFTER
    )
