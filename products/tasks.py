from celery import shared_task

from products import bulk, search, services


@shared_task
def products_delete_all_task(job_id: int) -> None:
    # No retries: a failure is recorded on the job for staff to see, and they start a new one.
    services.products_delete_all(job_id=job_id)


@shared_task
def product_search_catch_up_task() -> int:
    # Loops until nothing is stale (inside the service, under its lock). No retries: a run that
    # stops half way leaves stale rows, which the next request or the beat safety net picks up.
    return search.product_search_catch_up()


@shared_task
def products_analyze_task() -> None:
    # No retries: autovacuum analyzes the table in time anyway.
    bulk.products_bulk_analyze()
