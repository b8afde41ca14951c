"""Writes of the webhooks app: endpoints, the outbox (emit) and sending deliveries.

Deliveries are rows first (written in the caller's transaction), tasks second: a task only
carries a delivery id, the schedule lives in `next_attempt_at`, and a beat sweep re-enqueues
whatever is due, so a lost broker message or a dead worker delays a delivery but never loses it.
"""

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from webhooks import selectors
from webhooks.events import PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_UPDATED, WEBHOOK_TEST
from webhooks.http import Outcome, http_post
from webhooks.models import (
    Delivery,
    DeliveryAttempt,
    Endpoint,
    Event,
    payload_compress,
    payload_compress_products,
    secret_generate,
)
from webhooks.signing import signature_headers

logger = logging.getLogger(__name__)

# Delay before attempt n+1 after attempt n failed (Standard Webhooks / Svix): 8 attempts over a day.
RETRY_SCHEDULE_SECONDS = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]
RETRY_JITTER = 0.1  # ± this fraction, so receivers that failed together are not retried together
MAX_RETRY_AFTER_SECONDS = 24 * 3600
# The sweep enqueues a delivery again only if its task has not run this long after being queued.
REQUEUE_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 500
RETRY_AFTER_STATUSES = {429, 503}
# Deliveries of these to one endpoint are sent one at a time, in the order they were queued, so
# that a receiver learns of a product's changes in the order they happened.
ORDERED_EVENT_TYPES = (PRODUCT_CREATED, PRODUCT_UPDATED, PRODUCT_DELETED)
# A transaction that queues more deliveries than this (an import's batch) leaves sending their
# tasks to a worker: one message on commit instead of hundreds, each a round trip to the broker.
ENQUEUE_DIRECT_MAX = 10
EVENT_IDS_SQL = (
    f"WITH ids AS MATERIALIZED (SELECT pg_get_serial_sequence('{Event._meta.db_table}', 'id')::regclass AS sequence)"
    " SELECT nextval(sequence) FROM ids, generate_series(1, %s) ORDER BY 1"
)


def _data_serialize(data: dict) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))


def _payload_serialize(event_type: str, data: dict) -> str:
    return _payload_head(event_type) + _data_serialize(data) + "}"


def _payload_head(event_type: str) -> str:
    """The request body up to the JSON of its `data`, as json.dumps() writes the whole object."""
    return f'{{"type":{json.dumps(event_type)},"timestamp":{json.dumps(timezone.now().isoformat())},"data":'


def _deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Send a task per delivery; past ENQUEUE_DIRECT_MAX, one task that sends them from a worker."""
    from webhooks.tasks import deliveries_enqueue as deliveries_enqueue_task  # tasks import this module

    if len(delivery_ids) > ENQUEUE_DIRECT_MAX:
        deliveries_enqueue_task.delay(delivery_ids)
    else:
        deliveries_enqueue(delivery_ids=delivery_ids)


def deliveries_enqueue_prepare() -> None:
    """Get this process ready to send tasks, in a thread of its own, for a caller that will queue
    deliveries on its commits to come (an import, batch by batch): a process's first task
    message loads the broker's client, the result backend and Celery's message sender and
    connects to the broker, which would otherwise hold up the caller's first commit. A broker
    out of reach is left for that first message to report."""
    threading.Thread(target=_sending_prepare, name="webhooks-sending-prepare", daemon=True).start()


def _sending_prepare() -> None:
    from config.celery import app

    app.backend, app.amqp.send_task_message  # built on first use
    with contextlib.suppress(BrokerError), app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)


def deliveries_enqueue(*, delivery_ids: list[int]) -> None:
    """Send a task per delivery (a worker's half of _deliveries_enqueue)."""
    from webhooks.tasks import delivery_send

    for delivery_id in delivery_ids:
        delivery_send.delay(delivery_id)


def _deliveries_queue(
    *,
    endpoint_ids: list[int],
    event_type: str,
    payloads: list[bytes],
    store: Callable[[bytes], bytes] = payload_compress,
) -> list[int]:
    """One event per payload, stored as `store` makes it (the Event.payload column), each
    delivered to every endpoint, in the order given; returns the deliveries' ids. The events are
    COPYed with ids taken in advance: an import writes hundreds of large ones; each is put
    together as it is written."""
    now = timezone.now()
    # Joins the caller's transaction without a savepoint; is its own one when there is none.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(EVENT_IDS_SQL, [len(payloads)])
        event_ids = [event_id for event_id, in cursor.fetchall()]
        columns = "id, type, payload, created_at"
        with cursor.cursor.copy(f"COPY {Event._meta.db_table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            # Binary: no escaping. Each payload is made ready to store (compressed) as it is
            # written, while PostgreSQL stores the ones before it (Event.payload).
            copy.set_types(["bigint", "text", "bytea", "timestamptz"])
            for event_id, payload in zip(event_ids, payloads):
                copy.write_row((event_id, event_type, store(payload), now))
        pairs = [(event_id, endpoint_id) for event_id in event_ids for endpoint_id in endpoint_ids]
        cursor.execute(*_deliveries_insert(pairs, now=now))
        ids = [delivery_id for delivery_id, in cursor.fetchall()]
    transaction.on_commit(lambda: _deliveries_enqueue(ids))
    return ids


def _deliveries_insert(pairs: list[tuple[int, int]], *, now) -> tuple[str, list]:
    """One INSERT of a pending delivery per (event id, endpoint id), in order, returning their
    ids: each a new Delivery as Django would save it, due `now`. In SQL rather than
    bulk_create(), whose per-value work in Python was most of the time an import batch spent
    queueing its deliveries."""
    delivery = Delivery(next_attempt_at=now, queued_at=now)
    message_id = Delivery._meta.get_field("message_id")
    given = [Delivery._meta.get_field("event"), Delivery._meta.get_field("endpoint"), message_id]
    rest = [field for field in Delivery._meta.concrete_fields if not field.primary_key and field not in given]
    sql = (
        f"INSERT INTO {Delivery._meta.db_table} ({', '.join(field.column for field in [*given, *rest])})"
        f" SELECT *, {', '.join(f'%s::{field.db_type(connection)}' for field in rest)}"
        " FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) RETURNING id"
    )
    values = [field.get_db_prep_save(field.pre_save(delivery, add=True), connection) for field in rest]
    events, endpoints = (list(column) for column in zip(*pairs)) if pairs else ([], [])
    return sql, [*values, events, endpoints, [message_id.get_default() for _ in pairs]]


def emit(event_type: str, data: dict) -> int:
    """Queue one delivery of `data` per enabled endpoint subscribed to `event_type`.

    Runs in the caller's transaction (an outbox): nothing is sent for a rolled-back change.
    Returns the number of deliveries queued.
    """
    return emit_many(event_type, [data])


def emit_many(event_type: str, datas: Iterable[dict], *, endpoint_ids: list[int] | None = None) -> int:
    """emit() of one event per item of `datas`, in order, with one look-up of the subscribers.
    `endpoint_ids`: the subscribers, when the caller has looked them up in this transaction
    (selectors.event_subscribers(), once for several emits)."""
    return emit_serialized(event_type, (_data_serialize(data).encode() for data in datas), endpoint_ids=endpoint_ids)


def emit_serialized(event_type: str, datas: Iterable[bytes], *, endpoint_ids: list[int] | None = None) -> int:
    """emit_many() with each item of `datas` the JSON of its `data` exactly as emit() writes it
    (compact, ASCII): for callers that render many events faster than json.dumps()."""
    return _emit(
        event_type, datas, endpoint_ids=endpoint_ids, store=lambda head, data: payload_compress(head + data + b"}")
    )


def emit_products(event_type: str, products: Iterable[bytes], *, endpoint_ids: list[int]) -> int:
    """emit_serialized() of product events whose data each item of `products` (one of
    products.events.product_rows_kept()) renders: kept so, and rendered when the event is read."""
    return _emit(event_type, products, endpoint_ids=endpoint_ids, store=payload_compress_products)


def _emit(
    event_type: str, datas: Iterable[bytes], *, endpoint_ids: list[int] | None, store: Callable[[bytes, bytes], bytes]
) -> int:
    """Queue one event per item of `datas`, whose payload `store` makes of the body's head and the item."""
    if endpoint_ids is None:
        endpoint_ids = selectors.event_subscribers(event_type).get(event_type, [])
    if not endpoint_ids:
        return 0
    payloads = list(datas)
    if not payloads:
        return 0
    head = _payload_head(event_type).encode()
    queued = _deliveries_queue(
        endpoint_ids=endpoint_ids, event_type=event_type, payloads=payloads, store=lambda data: store(head, data)
    )
    return len(queued)


def endpoint_create(*, url: str, description: str, event_types: list[str]) -> Endpoint:
    return Endpoint.objects.create(url=url, description=description, event_types=event_types)


def endpoint_update(*, endpoint: Endpoint, url: str, description: str, event_types: list[str]) -> Endpoint:
    """Save changes; a new URL ends the failure pause and makes waiting retries due now."""
    url_changed = url != endpoint.url
    endpoint.url, endpoint.description, endpoint.event_types = url, description, event_types
    if url_changed:
        endpoint.paused_until = None
    with transaction.atomic():
        endpoint.save(update_fields=["url", "description", "event_types", "paused_until", "updated_at"])
        if url_changed:
            endpoint.deliveries.filter(status=Delivery.Status.PENDING, next_attempt_at__gt=timezone.now()).update(
                next_attempt_at=timezone.now(), queued_at=None
            )
    return endpoint


def _events_unreferenced_delete() -> None:
    # An event only exists for its deliveries; others emitted concurrently are not visible
    # here until committed together with their deliveries, so they are never caught.
    Event.objects.filter(deliveries__isnull=True).delete()


def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Delete the endpoint with its delivery log (and the events no other endpoint received)."""
    with transaction.atomic():
        endpoint.delete()
        _events_unreferenced_delete()


def delivery_purge(*, older_than: timedelta) -> int:
    """Delete finished deliveries (and their events) created more than `older_than` ago."""
    with transaction.atomic():
        _, deleted = (
            Delivery.objects.exclude(status=Delivery.Status.PENDING)
            .filter(created_at__lt=timezone.now() - older_than)
            .delete()
        )
        _events_unreferenced_delete()
    return deleted.get(Delivery._meta.label, 0)


def endpoint_enabled_set(*, endpoint: Endpoint, enabled: bool, reason: str = "") -> Endpoint:
    """Enable (forgetting any automatic reason and failure pause) or disable, saying why."""
    endpoint.enabled, endpoint.disabled_reason = enabled, "" if enabled else reason
    if enabled:
        endpoint.paused_until = None
    endpoint.save(update_fields=["enabled", "disabled_reason", "paused_until", "updated_at"])
    return endpoint


def endpoint_secret_rotate(*, endpoint: Endpoint) -> str:
    """A new signing secret, effective for the next request; returns it (to be shown once)."""
    endpoint.secret = secret_generate()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint.secret


def endpoint_test(*, endpoint: Endpoint) -> Delivery:
    """Queue a signed `{"test": true}` event to `endpoint` (one attempt, no retries)."""
    payload = _payload_serialize(WEBHOOK_TEST, {"test": True}).encode()
    (delivery_id,) = _deliveries_queue(endpoint_ids=[endpoint.pk], event_type=WEBHOOK_TEST, payloads=[payload])
    return Delivery.objects.get(pk=delivery_id)


def delivery_redeliver(*, delivery: Delivery) -> bool:
    """Send a finished delivery again, same webhook-id, with a fresh retry schedule."""
    now = timezone.now()
    queued = (
        Delivery.objects.filter(pk=delivery.pk)
        .exclude(status=Delivery.Status.PENDING)
        .update(status=Delivery.Status.PENDING, attempts=0, next_attempt_at=now, queued_at=now, locked_until=None)
    )
    if queued:
        transaction.on_commit(lambda: _deliveries_enqueue([delivery.pk]))
    return bool(queued)


def delivery_sweep() -> list[int]:
    """Enqueue due deliveries that have no live task (retries, lost messages); returns their ids."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        Delivery.objects.filter(pk__in=ids).update(queued_at=now)
        transaction.on_commit(lambda: _deliveries_enqueue(ids))
    return ids


def _delivery_claim(delivery_id: int) -> Delivery | None:
    """Lease a due delivery for one attempt. The conditional UPDATE is atomic, so of two workers
    holding the same id only one gets it; a succeeded or failed delivery is never claimed."""
    now = timezone.now()
    lease = timedelta(seconds=2 * settings.WEBHOOKS_TIMEOUT_SECONDS + 30)
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + lease)
    )
    # None as well when the delivery was deleted with its endpoint just after the claim. The
    # payload is loaded (and a product event's JSON rendered) only if the attempt goes ahead:
    # a delivery that waits for an earlier one is claimed again each time it is re-enqueued.
    deliveries = Delivery.objects.select_related("endpoint", "event").defer("event__payload")
    return deliveries.filter(pk=delivery_id).first() if claimed else None


def _retry_delay(attempts: int, outcome: Outcome) -> timedelta:
    seconds = RETRY_SCHEDULE_SECONDS[attempts] * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    if outcome.status_code in RETRY_AFTER_STATUSES and outcome.retry_after_seconds is not None:
        seconds = max(seconds, min(outcome.retry_after_seconds, MAX_RETRY_AFTER_SECONDS))
    return timedelta(seconds=seconds)


def _attempts_allowed(delivery: Delivery) -> int:
    return 1 if delivery.event.type == WEBHOOK_TEST else len(RETRY_SCHEDULE_SECONDS)


def _delivery_fail(delivery: Delivery, reason: str) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, locked_until=None, next_attempt_at=None, last_error=reason
    )


def _delivery_record(delivery: Delivery, outcome: Outcome, attempted_at) -> None:
    attempts = delivery.attempts
    logger.info(
        "Webhook %s (%s) to endpoint %s, attempt %s: %s %s %s ms",
        delivery.message_id, delivery.event.type, delivery.endpoint_id, attempts,
        outcome.status_code or "-", outcome.error or "", outcome.response_ms,
    )
    changes = {
        "attempts": attempts,
        "locked_until": None,
        "queued_at": None,
        "next_attempt_at": None,
        "last_attempt_at": attempted_at,
        "last_status_code": outcome.status_code,
        "last_response_ms": outcome.response_ms,
        "last_error": outcome.error[:255],
        "status": Delivery.Status.FAILED,
    }
    endpoint_changes = {}
    if outcome.succeeded:
        changes["status"] = Delivery.Status.SUCCEEDED
        if delivery.endpoint.paused_until is not None:
            endpoint_changes = {"paused_until": None}
    elif outcome.status_code == 410:
        endpoint_changes = {
            "enabled": False,
            "disabled_reason": f"The receiver answered 410 Gone on {attempted_at:%Y-%m-%d %H:%M} UTC.",
        }
    elif attempts < _attempts_allowed(delivery):
        changes["status"] = Delivery.Status.PENDING
        changes["next_attempt_at"] = timezone.now() + _retry_delay(attempts, outcome)
        endpoint_changes = {"paused_until": changes["next_attempt_at"]}
    with transaction.atomic():
        if not Delivery.objects.filter(pk=delivery.pk).update(**changes):
            return  # deleted with its endpoint while the request was under way
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempted_at=attempted_at,
            status_code=outcome.status_code,
            response_ms=outcome.response_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error[:255],
        )
        if endpoint_changes:
            Endpoint.objects.filter(pk=delivery.endpoint_id).update(**endpoint_changes, updated_at=timezone.now())


def delivery_send(*, delivery_id: int) -> bool:
    """Make one attempt at a due delivery unless another worker holds it; whether one was made.

    The attempt is counted before the request goes out, so a worker that dies during it (its
    lease runs out, the sweep sends the delivery again) has used it up like any other.
    """
    delivery = _delivery_claim(delivery_id)
    if delivery is None:
        return False
    if not delivery.endpoint.enabled:
        _delivery_fail(delivery, "Not sent: the endpoint is disabled.")
        _delivery_successor_enqueue(delivery)
        return False
    if delivery.attempts >= _attempts_allowed(delivery):
        _delivery_fail(delivery, "The last attempt was interrupted before its outcome was recorded.")
        _delivery_successor_enqueue(delivery)
        return False
    attempted_at = timezone.now()
    paused_until = delivery.endpoint.paused_until
    if paused_until and paused_until > attempted_at and delivery.event.type != WEBHOOK_TEST:
        # Wait for the failed delivery's retry to show the endpoint is back (a second later, so
        # that retry goes first), without an attempt of our own.
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=paused_until + timedelta(seconds=1), locked_until=None, queued_at=None
        )
        return False
    if _delivery_waits(delivery):
        return False
    delivery.attempts += 1
    Delivery.objects.filter(pk=delivery.pk).update(attempts=delivery.attempts)
    headers = signature_headers(
        secret=delivery.endpoint.secret, message_id=delivery.message_id, timestamp=int(time.time()),
        body=delivery.event.payload,
    )
    outcome = http_post(
        url=delivery.endpoint.url, body=delivery.event.payload, headers=headers,
        timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
    )
    _delivery_record(delivery, outcome, attempted_at)
    _delivery_successor_enqueue(delivery)
    return True


def _deliveries_earlier(delivery: Delivery):
    return Delivery.objects.filter(
        endpoint_id=delivery.endpoint_id, status=Delivery.Status.PENDING, pk__lt=delivery.pk,
        event__type__in=ORDERED_EVENT_TYPES,
    )


def _delivery_waits(delivery: Delivery) -> bool:
    """Whether a claimed delivery of an ORDERED_EVENT_TYPES event must wait for an earlier one
    to the same endpoint, still pending (under way, or waiting for its retry); if so it is given
    back, and that one's worker enqueues it when it has finished (_delivery_successor_enqueue).
    Checked again once given back: the earlier one may have finished in between, and its worker
    found this one still claimed."""
    if delivery.event.type not in ORDERED_EVENT_TYPES or not _deliveries_earlier(delivery).exists():
        return False
    Delivery.objects.filter(pk=delivery.pk).update(locked_until=None)
    return _deliveries_earlier(delivery).exists() or _delivery_claim(delivery.pk) is None


def _delivery_successor_enqueue(delivery: Delivery) -> None:
    """Once a delivery has finished, enqueue the next pending one that may have waited for it."""
    if delivery.event.type not in ORDERED_EVENT_TYPES:
        return
    if Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).exists():
        return  # it waits for a retry, and the later ones for it
    successor = (
        Delivery.objects.filter(
            endpoint_id=delivery.endpoint_id, status=Delivery.Status.PENDING, pk__gt=delivery.pk,
            event__type__in=ORDERED_EVENT_TYPES,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if successor is not None:
        transaction.on_commit(lambda: _deliveries_enqueue([successor]))
