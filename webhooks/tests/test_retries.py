"""Beat jobs and staff actions on the queue: sweep, redeliver, purge, endpoint changes."""

import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F, Min
from django.utils import timezone

from config.tests.processes import free_port
from webhooks import events
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import (
    RETRY_SCHEDULE_SECONDS,
    delivery_purge,
    delivery_redeliver,
    delivery_send,
    delivery_sweep,
    emit,
    endpoint_delete,
    endpoint_update,
)
from webhooks.tests.factories import delivery_failed_once_make, endpoint_make, retry_time_arrives
from webhooks.tests.receiver import Reply


@pytest.mark.django_db
def test_sweep_enqueues_due_deliveries_without_a_live_task():
    """Due retries and deliveries whose task vanished are swept; fresh and future ones are not."""
    endpoint_make(url="https://example.com/")
    for _ in range(4):
        emit(events.PRODUCT_CREATED, {"products": []})
    just_queued, retry_due, lost_task, retry_later = Delivery.objects.order_by("pk")
    now = timezone.now()
    Delivery.objects.filter(pk=retry_due.pk).update(queued_at=None, next_attempt_at=now)
    Delivery.objects.filter(pk=lost_task.pk).update(queued_at=now - timedelta(hours=1))
    Delivery.objects.filter(pk=retry_later.pk).update(queued_at=None, next_attempt_at=now + timedelta(minutes=5))

    assert sorted(delivery_sweep()) == [retry_due.pk, lost_task.pk]
    assert delivery_sweep() == [], "swept deliveries are marked queued"
    assert just_queued.pk not in Delivery.objects.filter(queued_at__gte=now).values_list("pk", flat=True)


@pytest.mark.django_db(transaction=True)
def test_retry_after_500_goes_through_the_sweep_and_worker(celery_worker, receiver, wait_for_delivery):
    """A failed first attempt is retried by the sweep once due, and then succeeds."""
    receiver.script(Reply(status=500))
    endpoint_make(url=receiver.url)
    emit(events.PRODUCT_DELETED, {"products": [{"id": 1}]})
    delivery = wait_for_delivery(Delivery.objects.get(), attempts=1)
    assert delivery.status == Delivery.Status.PENDING
    retry_time_arrives()
    assert delivery_sweep() == [delivery.pk]
    delivery = wait_for_delivery(delivery, attempts=2)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert len(receiver.requests) == 2


@pytest.mark.django_db(transaction=True)
def test_redeliver_sends_a_finished_delivery_again(celery_worker, receiver, wait_for_delivery):
    """Redeliver queues a succeeded delivery once more, with the same webhook-id."""
    endpoint_make(url=receiver.url)
    emit(events.UPLOAD_COMPLETED, {"job_id": 7})
    delivery = wait_for_delivery(Delivery.objects.get())
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery_redeliver(delivery=delivery)
    assert not delivery_redeliver(delivery=delivery), "already queued"
    receiver.wait_for(2)
    delivery = wait_for_delivery(delivery)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_log.count() == 2
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery.message_id}


@pytest.mark.django_db
def test_fixing_the_url_makes_waiting_retries_due_now(receiver):
    """Changing an endpoint's URL ends its failure pause and brings its scheduled retries forward."""
    delivery = delivery_failed_once_make(receiver=receiver)
    endpoint = delivery.endpoint
    assert endpoint.is_paused

    endpoint_update(endpoint=endpoint, url=receiver.url, description="", event_types=endpoint.event_types)
    endpoint.refresh_from_db()
    assert not endpoint.is_paused
    assert delivery_sweep() == [delivery.pk]
    assert delivery_send(delivery_id=delivery.pk)
    assert receiver.requests[-1].path == "/hook"


@pytest.mark.django_db
def test_purge_deletes_old_finished_deliveries_and_their_events():
    """Old succeeded/failed deliveries go with their now unused events; pending and recent ones stay."""
    endpoint_make(url="https://example.com/")
    for _ in range(3):
        emit(events.PRODUCT_CREATED, {"products": []})
    old_finished, old_pending, recent_finished = Delivery.objects.order_by("pk")
    long_ago = timezone.now() - timedelta(days=40)
    Delivery.objects.filter(pk__in=[old_finished.pk, old_pending.pk]).update(created_at=long_ago)
    Delivery.objects.exclude(pk=old_pending.pk).update(status=Delivery.Status.SUCCEEDED)

    assert delivery_purge(older_than=timedelta(days=30)) == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {old_pending.pk, recent_finished.pk}
    assert set(Event.objects.values_list("pk", flat=True)) == {old_pending.event_id, recent_finished.event_id}


@pytest.mark.django_db
def test_deleting_an_endpoint_keeps_events_other_endpoints_received():
    """Deleting an endpoint removes its log, and events only it received."""
    gone = endpoint_make(url="https://example.com/gone", event_types=[events.PRODUCT_CREATED, events.PRODUCT_DELETED])
    endpoint_make(url="https://example.com/stays", event_types=[events.PRODUCT_CREATED])
    emit(events.PRODUCT_CREATED, {"products": []})
    emit(events.PRODUCT_DELETED, {"products": []})
    endpoint_delete(endpoint=gone)
    assert list(Event.objects.values_list("type", flat=True)) == [events.PRODUCT_CREATED]
    assert not Delivery.objects.filter(endpoint_id=gone.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_an_attempt_is_counted_before_its_request_goes_out(celery_worker, receiver, wait_for_delivery):
    """While the receiver holds the worker's request, the attempt is already counted: a worker dying now has used it."""
    answer = threading.Event()
    receiver.script(Reply(hold=answer))
    endpoint_make(url=receiver.url)
    emit(events.PRODUCT_CREATED, {"products": []})
    delivery = Delivery.objects.get()
    try:
        receiver.wait_for(1, timeout=30)  # on a loaded machine the worker may take a while
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.status) == (1, Delivery.Status.PENDING)
        assert delivery.locked_until is not None
    finally:
        answer.set()
    delivery = wait_for_delivery(delivery)
    assert (delivery.attempts, delivery.status) == (1, Delivery.Status.SUCCEEDED)


@pytest.mark.django_db
def test_a_last_attempt_cut_short_by_a_dead_worker_fails_the_delivery(receiver):
    """When the lease of a worker that died during the last attempt runs out, the delivery fails unsent."""
    endpoint_make(url=receiver.url)
    emit(events.PRODUCT_CREATED, {"products": []})
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(
        attempts=len(RETRY_SCHEDULE_SECONDS), locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert not delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.next_attempt_at is None
    assert "interrupted" in delivery.last_error
    assert receiver.requests == []


def _run_until_settled() -> None:
    """Let time pass from one scheduled moment to the next, running the beat sweep and the sends
    it queues each time, until no delivery is pending."""
    for _ in range(100):
        first_due = Delivery.objects.filter(status=Delivery.Status.PENDING).aggregate(Min("next_attempt_at"))
        if first_due["next_attempt_at__min"] is None:
            return
        time_passes = timezone.now() - first_due["next_attempt_at__min"]
        Delivery.objects.filter(status=Delivery.Status.PENDING).update(next_attempt_at=F("next_attempt_at") + time_passes)
        Endpoint.objects.exclude(paused_until=None).update(paused_until=F("paused_until") + time_passes)
        for delivery_id in delivery_sweep():
            delivery_send(delivery_id=delivery_id)
    raise AssertionError("deliveries still pending after 100 rounds")


@pytest.mark.django_db
def test_a_receiver_that_always_fails_gets_the_scheduled_attempts_and_no_more(receiver):
    """Whatever Retry-After says, with the endpoint pausing its other deliveries and the sweep
    sending what is due, each delivery gets the schedule's attempts and fails; redelivering gives
    one more schedule, no more."""
    attempts = len(RETRY_SCHEDULE_SECONDS)
    receiver.script(*[Reply(status=503, headers={"Retry-After": "²"})] * 3 * attempts)
    endpoint_make(url=receiver.url)
    emit(events.PRODUCT_CREATED, {"products": []})
    emit(events.PRODUCT_UPDATED, {"products": []})
    first, waiting = Delivery.objects.order_by("pk")
    for delivery in (first, waiting):  # what the tasks queued by emit() do
        delivery_send(delivery_id=delivery.pk)
    waiting.refresh_from_db()
    assert waiting.attempts == 0, "it waits for the paused endpoint"
    _run_until_settled()
    assert list(Delivery.objects.values_list("status", "attempts")) == [(Delivery.Status.FAILED, attempts)] * 2
    assert len(receiver.requests) == 2 * attempts

    assert delivery_redeliver(delivery=first)
    delivery_send(delivery_id=first.pk)
    _run_until_settled()
    assert len(receiver.requests) == 3 * attempts
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.FAILED}


def test_sweep_while_the_database_is_away_logs_one_line_not_a_traceback():
    """Beat keeps sending the sweep while PostgreSQL restarts: each run says it skipped, once."""
    env = {**os.environ, "DATABASE_URL": f"postgres://importer@127.0.0.1:{free_port()}/importer"}
    code = "from webhooks.tasks import delivery_sweep; delivery_sweep()"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Webhook delivery sweep skipped" in result.stderr
    assert "Traceback" not in result.stderr
