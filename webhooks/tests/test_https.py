"""HTTPS deliveries as production sends them: SSRF guard on, pinned address, the host name for TLS and Host."""

import pytest
import trustme
from standardwebhooks import Webhook

from webhooks import events
from webhooks.models import Delivery
from webhooks.services import delivery_send, emit
from webhooks.tests.factories import endpoint_make
from webhooks.tests.receiver import Reply, SlowRelay


def _send_one(url: str) -> Delivery:
    endpoint_make(url=url)
    emit(events.UPLOAD_COMPLETED, {"job_id": 7})
    delivery = Delivery.objects.get()
    assert delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.django_db(transaction=True)
def test_worker_delivers_over_https_with_the_guard_on(celery_worker, https_receiver, wait_for_delivery):
    """The worker's request reaches a receiver whose certificate names the host, asking for that
    name in SNI and Host, and standardwebhooks verifies it."""
    endpoint = endpoint_make(url=https_receiver.url)
    emit(events.UPLOAD_COMPLETED, {"job_id": 7})
    delivery = wait_for_delivery(Delivery.objects.get())
    assert delivery.status == Delivery.Status.SUCCEEDED, delivery.last_error
    request = https_receiver.requests[0]
    assert Webhook(endpoint.secret).verify(request.body, request.headers)["data"] == {"job_id": 7}
    assert https_receiver.server_names == ["localhost"]
    assert request.headers["host"] == https_receiver.url.split("/")[2]  # localhost:<port>


@pytest.mark.django_db
def test_certificate_for_another_name_is_refused(https_receiver_for):
    """A certificate the test CA issued for other.example does not pass for localhost: no request is sent."""
    receiver = https_receiver_for("other.example")
    delivery = _send_one(receiver.url)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("TLS error: Hostname mismatch")
    assert "'localhost'" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.django_db
def test_certificate_from_a_ca_outside_the_bundle_is_refused(https_receiver, settings, tmp_path):
    """Receivers are verified against WEBHOOKS_CA_BUNDLE only: another CA's bundle refuses the certificate."""
    other_bundle = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_bundle))
    settings.WEBHOOKS_CA_BUNDLE = str(other_bundle)
    delivery = _send_one(https_receiver.url)
    assert delivery.last_error.startswith("TLS error: unable to get local issuer certificate")
    assert https_receiver.requests == []


@pytest.mark.django_db
def test_loopback_name_not_on_the_allow_list_is_refused(https_receiver, settings):
    """The allow-list lifts the guard for the names it lists only."""
    settings.WEBHOOKS_SSRF_ALLOWED_HOSTS = ["hooks.example.com"]
    delivery = _send_one(https_receiver.url)
    assert "localhost resolves to a private or reserved address" in delivery.last_error
    assert https_receiver.requests == []


@pytest.mark.django_db
def test_a_receiver_trickling_its_headers_over_tls_is_cut_off_at_the_timeout(https_receiver, settings):
    """The total deadline also ends a TLS connection whose every byte arrives within the read timeout."""
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1
    https_receiver.script(Reply(trickle=0.1))
    delivery = _send_one(https_receiver.url)
    assert delivery.last_status_code is None
    assert delivery.last_error == "Timed out waiting for the response (after 1 s)"
    assert delivery.last_response_ms < 5000


@pytest.mark.django_db
def test_a_receiver_dragging_out_its_tls_handshake_is_cut_off_at_the_timeout(https_receiver, settings):
    """The deadline covers the TLS handshake too, however steadily its bytes arrive."""
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1
    with SlowRelay(host="localhost", port=https_receiver.server.server_port, interval=0.05) as relay:
        delivery = _send_one(f"https://localhost:{relay.port}/hook")
    assert delivery.last_error == "Timed out waiting for the response (after 1 s)"
    assert delivery.last_response_ms < 5000
    assert https_receiver.requests == []
