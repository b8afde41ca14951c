from datetime import timedelta

from celery import shared_task
from django.conf import settings

from imports import services


@shared_task
def import_job_run_task(job_id: int) -> str:
    """Import one staged file. A redelivery after a worker died runs it again (idempotent upsert)."""
    return services.import_job_run(job_id=job_id).status


@shared_task
def import_files_purge_task() -> int:
    return services.import_files_purge(older_than=timedelta(days=settings.IMPORT_FILE_RETENTION_DAYS))


@shared_task
def import_jobs_requeue_stale_task() -> int:
    return services.import_jobs_requeue_stale()
