"""Thin Celery entry points; the schedule and idempotency live in webhooks.services."""

from celery import shared_task

from webhooks import services


@shared_task(ignore_result=True, time_limit=120)
def delivery_send(delivery_id: int) -> None:
    # Safe to run twice: the service claims the delivery atomically and skips finished ones.
    services.delivery_send(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def delivery_sweep() -> None:
    services.delivery_sweep()
