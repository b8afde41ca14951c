"""The Django admin changes endpoints through the services, like the app's pages."""

import pytest
from django.urls import reverse

from webhooks import events
from webhooks.models import Endpoint, Event
from webhooks.services import delivery_send, emit
from webhooks.tests.factories import delivery_failed_once_make, endpoint_make


def _form_data(endpoint: Endpoint, **changes) -> dict:
    return {
        "url": endpoint.url, "description": endpoint.description, "event_types": endpoint.event_types,
        "enabled": "on" if endpoint.enabled else "", **changes,
    }


@pytest.mark.django_db
def test_admin_edit_of_the_url_ends_the_pause_and_makes_retries_due(admin_client, receiver):
    """A new URL saved in the admin resumes the paused endpoint and brings its waiting retry forward."""
    delivery = delivery_failed_once_make(receiver=receiver)
    endpoint = delivery.endpoint
    assert endpoint.is_paused and delivery.queued_at is None

    response = admin_client.post(
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]), _form_data(endpoint, url=receiver.url)
    )
    assert response.status_code == 302, response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == receiver.url
    assert not endpoint.is_paused
    assert delivery_send(delivery_id=delivery.pk), "the retry is due now"
    assert receiver.requests[-1].path == "/hook"


@pytest.mark.django_db
def test_admin_add_creates_an_endpoint_with_a_secret_and_its_state(admin_client):
    """Adding in the admin creates the endpoint through the service, disabled if unticked."""
    response = admin_client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"url": "https://example.com/hook", "description": "ERP", "event_types": [events.PRODUCT_CREATED]},
    )
    assert response.status_code == 302, response.content.decode()
    endpoint = Endpoint.objects.get()
    assert (endpoint.url, endpoint.enabled) == ("https://example.com/hook", False)
    assert endpoint.secret.startswith("whsec_")


@pytest.mark.django_db
def test_admin_edit_refuses_a_url_no_request_could_use(admin_client):
    """The admin shows the same URL errors as the app's form instead of a server error."""
    endpoint = endpoint_make(url="https://example.com/hook")
    response = admin_client.post(
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        _form_data(endpoint, url="https://example.com:70000/hook"),
    )
    assert response.status_code == 200
    assert "The port must be a number from 1 to 65535." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("bulk", [False, True])
def test_admin_delete_takes_the_events_only_that_endpoint_received(admin_client, bulk):
    """Deleting in the admin, one endpoint or with the list's action, removes its log and its own events."""
    gone = endpoint_make(url="https://example.com/gone", event_types=[events.PRODUCT_CREATED, events.PRODUCT_DELETED])
    endpoint_make(url="https://example.com/stays", event_types=[events.PRODUCT_CREATED])
    emit(events.PRODUCT_CREATED, {"products": []})
    emit(events.PRODUCT_DELETED, {"products": []})
    if bulk:
        response = admin_client.post(
            reverse("admin:webhooks_endpoint_changelist"),
            {"action": "delete_selected", "_selected_action": [gone.pk], "post": "yes"},
        )
    else:
        response = admin_client.post(reverse("admin:webhooks_endpoint_delete", args=[gone.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert list(Endpoint.objects.values_list("url", flat=True)) == ["https://example.com/stays"]
    assert list(Event.objects.values_list("type", flat=True)) == [events.PRODUCT_CREATED]
