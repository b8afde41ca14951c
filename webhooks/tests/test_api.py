"""The webhooks API: endpoints validated as the form validates them, secrets shown once, test,
deliveries with their attempts, redelivery."""

import pytest

from webhooks import events
from webhooks.models import Delivery, Endpoint
from webhooks.services import delivery_send
from webhooks.tests.factories import endpoint_make
from webhooks.tests.receiver import Reply

pytestmark = pytest.mark.django_db


def test_create_answers_201_with_the_secret_only_then(api_client):
    """The created endpoint's secret (whsec_…) is in the 201 and in no later response."""
    response = api_client.post(
        "/api/webhooks/",
        {"url": "https://example.com/hook", "events": [events.PRODUCT_CREATED], "description": "ERP", "enabled": False},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    endpoint = Endpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert (body["url"], body["events"], body["description"], body["enabled"]) == (
        "https://example.com/hook", [events.PRODUCT_CREATED], "ERP", False
    )
    assert endpoint.enabled is False
    assert "secret" not in api_client.get(f"/api/webhooks/{endpoint.pk}/").json()
    assert "secret" not in api_client.get("/api/webhooks/").json()["results"][0]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "not a url", "events": [events.PRODUCT_CREATED]}, "url"),
        ({"url": "ftp://example.com/x", "events": [events.PRODUCT_CREATED]}, "url"),
        ({"url": "https://example.com/x", "events": []}, "events"),
        ({"url": "https://example.com/x", "events": ["product.exploded"]}, "events"),
        ({"events": [events.PRODUCT_CREATED]}, "url"),
    ],
)
def test_invalid_endpoint_is_refused_with_a_field_error(api_client, data, field):
    """Bad URLs and events are 400 with the error on the field; nothing is saved."""
    response = api_client.post("/api/webhooks/", data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Endpoint.objects.exists()


def test_url_check_is_the_forms(api_client, settings):
    """An internal address is refused as the form refuses it (SSRF), with its message."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    data = {"url": "http://127.0.0.1/x", "events": [events.UPLOAD_FAILED]}
    response = api_client.post("/api/webhooks/", data, format="json")
    assert response.status_code == 400
    assert "private or reserved address" in response.json()["url"][0]


def test_patch_changes_fields_and_enabled_delete_removes(api_client):
    """PATCH changes what it names (the rest stays); DELETE answers 204; PUT is not offered."""
    endpoint = endpoint_make(url="https://example.com/hook", event_types=[events.UPLOAD_FAILED])
    url = f"/api/webhooks/{endpoint.pk}/"
    response = api_client.patch(url, {"enabled": False, "description": "paused"}, format="json")
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.description, endpoint.url) == (False, "paused", "https://example.com/hook")
    response = api_client.patch(url, {"events": [events.PRODUCT_DELETED, events.PRODUCT_CREATED]}, format="json")
    assert response.json()["events"] == [events.PRODUCT_CREATED, events.PRODUCT_DELETED]
    assert api_client.put(url, {}, format="json").status_code == 405
    assert api_client.delete(url).status_code == 204
    assert not Endpoint.objects.exists()


def test_rotate_secret_answers_the_new_secret(api_client):
    """Rotating answers 202 with the new secret, which the endpoint now signs with."""
    endpoint = endpoint_make(url="https://example.com/hook")
    response = api_client.post(f"/api/webhooks/{endpoint.pk}/rotate-secret/")
    assert response.status_code == 202
    endpoint.refresh_from_db()
    assert response.json() == {"secret": endpoint.secret}


def test_test_delivery_result_is_readable_on_the_delivery_and_in_the_list(api_client, receiver):
    """Test answers 202 with a pending delivery; once sent, the delivery shows the attempt."""
    endpoint = endpoint_make(url=receiver.url, event_types=[events.UPLOAD_FAILED])
    receiver.script(Reply(status=201, body=b"thanks"))
    response = api_client.post(f"/api/webhooks/{endpoint.pk}/test/")
    assert response.status_code == 202
    pending = response.json()
    assert pending["status"] == "pending" and pending["event"] == events.WEBHOOK_TEST
    delivery_send(delivery_id=pending["id"])
    delivery = api_client.get(f"/api/deliveries/{pending['id']}/").json()
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 201 and attempt["response_excerpt"] == "thanks" and attempt["succeeded"]
    listed = api_client.get(f"/api/webhooks/{endpoint.pk}/deliveries/").json()
    assert [item["id"] for item in listed["results"]] == [pending["id"]]
    assert listed["results"][0]["attempt_log"] == delivery["attempt_log"]


def test_redeliver_requeues_a_finished_delivery_once(api_client, closed_port_url):
    """A finished delivery is queued again (202); while it is pending another redeliver is a 409."""
    endpoint = endpoint_make(url=closed_port_url)
    api_client.post(f"/api/webhooks/{endpoint.pk}/test/")
    delivery = Delivery.objects.get()
    delivery_send(delivery_id=delivery.pk)
    response = api_client.post(f"/api/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert api_client.post(f"/api/deliveries/{delivery.pk}/redeliver/").status_code == 409


def test_unknown_endpoint_is_a_json_404(api_client):
    """Deliveries of an endpoint that does not exist: 404 JSON."""
    response = api_client.get("/api/webhooks/999999/deliveries/")
    assert response.status_code == 404 and "detail" in response.json()
