"""emit(): the outbox other apps write into, and who it delivers to."""

import json

import pytest
from django.db import transaction

from webhooks import events
from webhooks.models import Delivery, Event
from webhooks.selectors import event_subscribers
from webhooks.services import emit
from webhooks.tests.factories import endpoint_make


@pytest.mark.django_db
def test_emit_queues_one_delivery_per_subscribed_endpoint_in_two_queries(django_assert_num_queries):
    """Three subscribers cost a SELECT, the event's INSERT and one bulk INSERT; the payload is stored once."""
    for number in range(3):
        endpoint_make(url=f"https://example.com/{number}")
    with django_assert_num_queries(3):
        queued = emit(events.PRODUCT_CREATED, {"products": [{"sku": "A-1"}]})
    assert queued == 3
    assert set(Delivery.objects.values_list("event", flat=True)) == {Event.objects.get().pk}
    payload = json.loads(Event.objects.get().payload)
    assert payload["type"] == "product.created"
    assert payload["data"] == {"products": [{"sku": "A-1"}]}
    assert "timestamp" in payload


@pytest.mark.django_db
def test_event_type_filter():
    """Only endpoints subscribed to the event type get a delivery."""
    products = endpoint_make(url="https://example.com/products", event_types=[events.PRODUCT_CREATED])
    endpoint_make(url="https://example.com/uploads", event_types=[events.UPLOAD_COMPLETED])
    assert emit(events.PRODUCT_CREATED, {"products": []}) == 1
    assert list(Delivery.objects.values_list("endpoint", flat=True)) == [products.pk]


@pytest.mark.django_db
def test_disabled_endpoint_gets_no_delivery():
    """A disabled endpoint is skipped by emit() and does not count as a subscriber."""
    endpoint_make(url="https://example.com/", enabled=False)
    assert not event_subscribers(events.PRODUCT_UPDATED)
    assert emit(events.PRODUCT_UPDATED, {"products": []}) == 0
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_event_subscribers():
    """event_subscribers answers per event type, with the subscribed endpoints."""
    endpoint = endpoint_make(url="https://example.com/", event_types=[events.UPLOAD_FAILED])
    assert event_subscribers(events.UPLOAD_FAILED, events.PRODUCT_DELETED) == {events.UPLOAD_FAILED: [endpoint.pk]}
    assert not event_subscribers(events.PRODUCT_DELETED)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_sends_nothing(celery_worker, receiver, wait_for_delivery):
    """A delivery emitted in a transaction that rolls back never reaches the receiver."""
    endpoint_make(url=receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(events.PRODUCT_CREATED, {"products": [{"sku": "ROLLED-BACK"}]})
        raise RuntimeError("the caller's change failed")
    with transaction.atomic():
        emit(events.PRODUCT_CREATED, {"products": [{"sku": "COMMITTED"}]})
    wait_for_delivery(Delivery.objects.get(), attempts=1)
    assert [json.loads(r.body)["data"]["products"][0]["sku"] for r in receiver.requests] == ["COMMITTED"]
