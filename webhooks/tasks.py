"""Thin Celery entry points; the schedule and idempotency live in webhooks.services."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from webhooks import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, time_limit=120)
def delivery_send(delivery_id: int) -> None:
    # Safe to run twice: the service claims the delivery atomically and skips finished ones.
    services.delivery_send(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def deliveries_enqueue(delivery_ids: list[int]) -> None:
    services.deliveries_enqueue(delivery_ids=delivery_ids)


@shared_task(ignore_result=True)
def delivery_sweep() -> None:
    try:
        services.delivery_sweep()
    except DatabaseError as error:  # down or restarting: beat runs the next sweep soon
        logger.warning("Webhook delivery sweep skipped: %s", error)


@shared_task(ignore_result=True)
def delivery_purge() -> None:
    services.delivery_purge(older_than=timedelta(days=settings.WEBHOOKS_RETENTION_DAYS))
