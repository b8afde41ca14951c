import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError

from imports import services

logger = logging.getLogger(__name__)


# No result rows: the job row is the record of a run, and writing a result fails exactly when
# the database is what interrupted the run or the sweep.
@shared_task(bind=True, ignore_result=True)
def import_job_run_task(self, job_id: int) -> str:
    """Import one staged file. A lost database session ends the task quietly: the recovery sweep
    starts the job again once the database answers, and a traceback would only add noise."""
    try:
        return services.import_job_run(job_id=job_id, task_id=self.request.id).status
    except services.ImportInterrupted as interrupted:
        logger.warning("%s; the recovery sweep will start it again.", interrupted)
        return "interrupted"


@shared_task(ignore_result=True)
def import_jobs_recover_task() -> int:
    try:
        return services.import_jobs_recover()
    except DatabaseError as error:  # down or restarting: the next sweep tries again
        logger.warning("Import recovery sweep skipped: %s", error)
        return 0


@shared_task
def import_files_purge_task() -> int:
    return services.import_files_purge(older_than=timedelta(days=settings.IMPORT_FILE_RETENTION_DAYS))


@worker_ready.connect
def import_jobs_recover_on_worker_start(**kwargs) -> None:
    """A worker that starts recovers at once what a dead one left, rather than at the next beat."""
    import_jobs_recover_task.delay()
