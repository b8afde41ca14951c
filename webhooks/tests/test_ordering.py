"""Product events reach an endpoint one at a time, in the order they were queued."""

import json
import threading

import pytest
from django.db import transaction

from webhooks import events
from webhooks.models import Delivery
from webhooks.services import delivery_send, emit
from webhooks.tests.factories import endpoint_make
from webhooks.tests.receiver import Reply


@pytest.mark.django_db(transaction=True)  # the worker only sees committed rows
def test_a_second_worker_does_not_send_a_later_product_event_while_the_first_is_under_way(celery_worker, receiver):
    """While the worker's request for a product event waits for its answer, another worker
    process holding the endpoint's next product event does not send it; the first worker
    sends it once answered, so the receiver sees the product's changes in order."""
    answer = threading.Event()
    receiver.script(Reply(hold=answer))
    endpoint_make(url=receiver.url, event_types=[events.PRODUCT_UPDATED])
    with transaction.atomic():
        for name in ("first", "second"):
            emit(events.PRODUCT_UPDATED, {"products": [{"id": 1, "name": name}]})
    first, second = Delivery.objects.order_by("pk")
    receiver.wait_for(1)
    assert not delivery_send(delivery_id=second.pk), "the second waits for the first"
    assert len(receiver.requests) == 1
    answer.set()
    requests = receiver.wait_for(2)
    assert [json.loads(request.body)["data"]["products"][0]["name"] for request in requests] == ["first", "second"]
    assert [request.headers["webhook-id"] for request in requests] == [first.message_id, second.message_id]


@pytest.mark.django_db
def test_other_events_do_not_wait_for_product_events(receiver):
    """Only product events keep their order: an upload.completed is sent while an earlier
    product event to the same endpoint is still pending."""
    endpoint_make(url=receiver.url, event_types=[events.PRODUCT_CREATED, events.UPLOAD_COMPLETED])
    emit(events.PRODUCT_CREATED, {"products": [{"id": 1}]})
    emit(events.UPLOAD_COMPLETED, {"job": 1})
    product, upload = Delivery.objects.order_by("pk")
    assert delivery_send(delivery_id=upload.pk)
    assert json.loads(receiver.requests[0].body)["type"] == events.UPLOAD_COMPLETED
    assert product.status == Delivery.Status.PENDING
