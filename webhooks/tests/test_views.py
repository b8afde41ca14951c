"""Staff pages: endpoint management, the delivery log and the Test button's fragments."""

import pytest
from django.urls import reverse
from django.utils import timezone

from webhooks import events
from webhooks.models import Delivery, DeliveryAttempt, Endpoint
from webhooks.services import delivery_send, emit
from webhooks.tests.factories import endpoint_make
from webhooks.tests.receiver import Reply

HTMX = {"HX-Request": "true"}


@pytest.fixture
def endpoint(db):
    return endpoint_make(url="https://example.com/hook")


def test_create_shows_the_secret_once(staff_client):
    """Creating an endpoint answers with its signing secret; the endpoint page never shows it."""
    response = staff_client.post(
        reverse("webhooks:endpoint_create"),
        {"url": "https://example.com/hook", "description": "ERP", "event_types": [events.PRODUCT_CREATED]},
        headers=HTMX,
    )
    endpoint = Endpoint.objects.get()
    assert response.status_code == 200
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret in response.content.decode()
    assert endpoint.event_types == [events.PRODUCT_CREATED]
    assert endpoint.secret not in staff_client.get(endpoint.get_absolute_url()).content.decode()


def test_invalid_form_answers_422_with_errors(staff_client):
    """A form with errors answers 422 with the form fragment, and nothing is saved."""
    response = staff_client.post(
        reverse("webhooks:endpoint_create"), {"url": "not a url", "event_types": []}, headers=HTMX
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert 'id="endpoint-form"' in content and "<html" not in content
    assert content.count("Enter a valid URL.") == 1
    assert "This field is required" in content
    assert not Endpoint.objects.exists()


def test_edit_saves_and_redirects(staff_client, endpoint):
    """Editing changes URL, description and events and sends the browser to the endpoint page."""
    response = staff_client.post(
        reverse("webhooks:endpoint_update", args=[endpoint.pk]),
        {"url": "https://example.org/new", "description": "new", "event_types": [events.UPLOAD_FAILED]},
        headers=HTMX,
    )
    assert response["HX-Redirect"] == endpoint.get_absolute_url()
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (
        "https://example.org/new", "new", [events.UPLOAD_FAILED]
    )


def test_delete(staff_client, endpoint):
    """Deleting removes the endpoint and returns to the list."""
    response = staff_client.post(reverse("webhooks:endpoint_delete", args=[endpoint.pk]), headers=HTMX)
    assert response["HX-Redirect"] == reverse("webhooks:index")
    assert not Endpoint.objects.exists()


def test_toggle_disables_and_enables(staff_client, endpoint):
    """The toggle flips the state, clears an automatic reason on enable and says so in a toast."""
    url = reverse("webhooks:endpoint_toggle", args=[endpoint.pk])
    response = staff_client.post(url, headers=HTMX)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "Endpoint disabled." in response["HX-Trigger"]
    Endpoint.objects.filter(pk=endpoint.pk).update(disabled_reason="410 Gone")
    staff_client.post(url, headers=HTMX)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == ""


def test_rotate_secret_shows_the_new_secret(staff_client, endpoint):
    """Rotating replaces the secret and shows the new one."""
    old = endpoint.secret
    response = staff_client.post(reverse("webhooks:endpoint_secret_rotate", args=[endpoint.pk]), headers=HTMX)
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert endpoint.secret in response.content.decode()


def test_list_shows_state_last_delivery_and_success_rate(staff_client, receiver):
    """The list shows each endpoint's state, last status code and response time, and success rate."""
    endpoint_make(url=receiver.url)
    endpoint_make(url="https://example.com/off", enabled=False)
    emit(events.PRODUCT_CREATED, {"products": []})
    emit(events.PRODUCT_CREATED, {"products": []})
    succeeded, failed = Delivery.objects.order_by("pk")
    delivery_send(delivery_id=succeeded.pk)
    receiver.script(Reply(status=500))
    Delivery.objects.filter(pk=failed.pk).update(attempts=7)  # its last scheduled attempt
    delivery_send(delivery_id=failed.pk)
    content = staff_client.get(reverse("webhooks:index")).content.decode()
    assert "HTTP 500" in content
    assert " ms" in content
    assert "50 %" in content
    assert "Enabled" in content and "Disabled" in content


def test_delivery_log_filters_by_status(staff_client, endpoint):
    """The log lists an endpoint's deliveries and filters them by status."""
    emit(events.PRODUCT_CREATED, {"products": []})
    emit(events.PRODUCT_UPDATED, {"products": []})
    Delivery.objects.filter(event__type=events.PRODUCT_UPDATED).update(status=Delivery.Status.FAILED)
    url = endpoint.get_absolute_url()
    everything = staff_client.get(url).content.decode()
    assert "product.created" in everything and "product.updated" in everything
    failed = staff_client.get(url, {"status": "failed"}, headers=HTMX).content.decode()
    assert "product.updated" in failed and "product.created" not in failed
    assert 'id="delivery-log"' in failed and "<html" not in failed


def test_redeliver_requeues_a_finished_delivery(staff_client, endpoint):
    """Redeliver puts a failed delivery back in the queue and answers with its row."""
    emit(events.PRODUCT_CREATED, {"products": []})
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, attempts=8)
    response = staff_client.post(reverse("webhooks:delivery_redeliver", args=[delivery.pk]), headers=HTMX)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.PENDING, 0)
    assert "Delivery queued again." in response["HX-Trigger"]
    assert f'id="delivery-{delivery.pk}"' in response.content.decode()


def test_test_button_answers_pending_then_the_polled_result(staff_client, receiver):
    """Test queues a test event and answers a polling fragment; once sent, the fragment stops polling."""
    endpoint = endpoint_make(url=receiver.url, event_types=[events.UPLOAD_FAILED])
    receiver.script(Reply(status=201, body=b"thanks"))
    pending = staff_client.post(reverse("webhooks:endpoint_test", args=[endpoint.pk]), headers=HTMX)
    delivery = Delivery.objects.get()
    assert delivery.event.type == events.WEBHOOK_TEST
    assert "Pending" in pending.content.decode()
    assert f'hx-get="{delivery.get_absolute_url()}"' in pending.content.decode()

    delivery_send(delivery_id=delivery.pk)
    response = staff_client.get(delivery.get_absolute_url(), headers=HTMX)
    result = response.content.decode()
    assert "HTTP 201" in result and "thanks" in result and " ms" in result
    assert "hx-get" not in result
    assert "deliveries-changed" in response["HX-Trigger"], "the delivery log reloads"


def test_failed_test_shows_the_error_and_is_not_retried(staff_client, closed_port_url):
    """A refused test event shows the error and is not scheduled for retries."""
    endpoint = endpoint_make(url=closed_port_url)
    staff_client.post(reverse("webhooks:endpoint_test", args=[endpoint.pk]), headers=HTMX)
    delivery = Delivery.objects.get()
    delivery_send(delivery_id=delivery.pk)
    result = staff_client.get(delivery.get_absolute_url(), headers=HTMX).content.decode()
    assert "Connection refused" in result
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED


def test_delivery_page_shows_payload_and_attempts(staff_client, receiver):
    """The delivery page shows the payload and every attempt with its response excerpt."""
    endpoint_make(url=receiver.url)
    receiver.script(Reply(status=500, body=b"database down"))
    emit(events.UPLOAD_COMPLETED, {"job_id": 42})
    delivery = Delivery.objects.get()
    delivery_send(delivery_id=delivery.pk)
    content = staff_client.get(delivery.get_absolute_url()).content.decode()
    assert "&quot;job_id&quot;: 42" in content  # indented for reading
    assert "HTTP 500" in content and "database down" in content
    assert f"webhook-id: {delivery.message_id}" in content


def test_one_attempt_count_after_a_redelivery(staff_client, endpoint):
    """The page and the log count the attempts they list, not the ones since the redelivery."""
    emit(events.PRODUCT_CREATED, {"products": []})
    delivery = Delivery.objects.get()
    for code in (500, 200):
        DeliveryAttempt.objects.create(delivery=delivery, attempted_at=timezone.now(), status_code=code, response_ms=9)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SUCCEEDED, attempts=1)
    staff_client.post(reverse("webhooks:delivery_redeliver", args=[delivery.pk]), headers=HTMX)
    assert "<dd data-attempts>2</dd>" in staff_client.get(delivery.get_absolute_url()).content.decode()
    assert '<td class="num" data-label="Attempts" data-attempts>2</td>' in staff_client.get(endpoint.get_absolute_url()).content.decode()


def test_delivery_log_polls_only_while_a_delivery_is_pending(staff_client, endpoint):
    """A pending delivery makes the log reload itself every few seconds; a finished log does not poll."""
    emit(events.PRODUCT_CREATED, {"products": []})
    assert "every 3s" in staff_client.get(endpoint.get_absolute_url(), headers=HTMX).content.decode()
    Delivery.objects.update(status=Delivery.Status.SUCCEEDED)
    assert "every 3s" not in staff_client.get(endpoint.get_absolute_url(), headers=HTMX).content.decode()


def test_admin_never_shows_the_secret(admin_client, endpoint):
    """The admin lists and edits endpoints without rendering their signing secret."""
    emit(events.PRODUCT_CREATED, {"products": []})
    pages = [
        reverse("admin:webhooks_endpoint_changelist"),
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        reverse("admin:webhooks_delivery_changelist"),
        reverse("admin:webhooks_delivery_change", args=[Delivery.objects.get().pk]),
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert endpoint.secret not in response.content.decode(), page
