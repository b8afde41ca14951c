from celery import shared_task

from products import services


@shared_task
def products_delete_all_task(job_id: int) -> None:
    # No retries: a failure is recorded on the job for staff to see, and they start a new one.
    services.products_delete_all(job_id=job_id)
