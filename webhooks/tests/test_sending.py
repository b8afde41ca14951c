"""One delivery attempt: signing, outcomes, retries and the endpoint's reaction."""

import json
import ssl
import threading
from datetime import timedelta

import pytest
import requests
import urllib3
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from webhooks import events
from webhooks.http import _causes, _describe
from webhooks.models import Delivery, Endpoint
from webhooks.services import delivery_send, emit, endpoint_delete
from webhooks.tests.factories import endpoint_make, retry_time_arrives
from webhooks.tests.receiver import Receiver, Reply


def _queue_one(url: str) -> Delivery:
    endpoint_make(url=url)
    emit(events.PRODUCT_UPDATED, {"products": [{"sku": "A-1"}]})
    return Delivery.objects.get()


def _send(delivery: Delivery) -> Delivery:
    assert delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.django_db(transaction=True)
def test_worker_delivers_a_request_the_reference_library_verifies(celery_worker, receiver, wait_for_delivery):
    """The worker POSTs the payload with Standard Webhooks headers that standardwebhooks accepts."""
    endpoint = endpoint_make(url=receiver.url)
    emit(events.PRODUCT_CREATED, {"products": [{"sku": "A-1"}]})
    delivery = wait_for_delivery(Delivery.objects.get())
    request = receiver.requests[0]
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "product.created"
    assert payload["data"]["products"] == [{"sku": "A-1"}]
    assert request.headers["webhook-id"] == delivery.message_id
    assert request.headers["content-type"] == "application/json"
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_log.get().status_code == 200


@pytest.mark.django_db
def test_signature_with_another_secret_is_rejected(receiver):
    """The signature depends on the endpoint's own secret."""
    from standardwebhooks.webhooks import WebhookVerificationError

    delivery = _send(_queue_one(receiver.url))
    other = endpoint_make(url=receiver.url)
    with pytest.raises(WebhookVerificationError):
        Webhook(other.secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert delivery.status == Delivery.Status.SUCCEEDED


@pytest.mark.django_db
def test_500_is_retried_then_succeeds_with_the_same_webhook_id(receiver):
    """A 500 schedules a retry about 5 s later; the retry succeeds and carries the same webhook-id."""
    receiver.script(Reply(status=500, body=b"boom"))
    delivery = _send(_queue_one(receiver.url))
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.last_status_code == 500
    assert timedelta(seconds=4) < delivery.next_attempt_at - timezone.now() < timedelta(seconds=6)
    assert not delivery_send(delivery_id=delivery.pk), "not due yet"

    retry_time_arrives()
    delivery = _send(delivery)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 2
    assert [a.status_code for a in delivery.attempt_log.all()] == [200, 500]
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(delivery.endpoint.secret).verify(second.body, second.headers)


@pytest.mark.django_db
def test_succeeded_delivery_is_never_sent_again(receiver):
    """Running the send again (a duplicate task) does nothing once the delivery succeeded."""
    delivery = _send(_queue_one(receiver.url))
    assert not delivery_send(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_delivery_held_by_another_worker_is_not_sent(receiver):
    """While one worker holds a delivery's lease, another worker's task skips it."""
    delivery = _queue_one(receiver.url)
    Delivery.objects.filter(pk=delivery.pk).update(locked_until=timezone.now() + timedelta(minutes=1))
    assert not delivery_send(delivery_id=delivery.pk)
    assert receiver.requests == []


@pytest.mark.django_db
def test_timeout_is_logged_and_retried(receiver, settings):
    """A receiver slower than the timeout gives a logged timeout and a retry."""
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    receiver.script(Reply(delay=1.5))
    delivery = _send(_queue_one(receiver.url))
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("Timed out")
    assert delivery.last_response_ms < 1500


@pytest.mark.django_db
def test_a_receiver_trickling_its_headers_is_cut_off_at_the_timeout(receiver, settings):
    """Every byte arrives well within the read timeout, but the answer as a whole does not:
    the attempt still ends at the timeout (it would take ~10 s here)."""
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1
    receiver.script(Reply(trickle=0.1))
    delivery = _send(_queue_one(receiver.url))
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.last_status_code is None
    assert delivery.last_error == "Timed out waiting for the response (after 1 s)"
    assert delivery.last_response_ms < 5000


@pytest.mark.django_db
def test_connection_refused_is_logged_and_retried(closed_port_url):
    """Nothing listening: the attempt is logged as refused and retried."""
    delivery = _send(_queue_one(closed_port_url))
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempt_log.get().error == "Connection refused"


@pytest.mark.django_db
def test_unresolvable_host_is_reported_as_dns_failure():
    """A host name that does not resolve is logged as a DNS failure."""
    delivery = _send(_queue_one("http://no-such-host.invalid/hook"))
    assert delivery.last_error.startswith("DNS lookup failed")


@pytest.mark.django_db
def test_redirect_is_not_followed(receiver):
    """A 3xx is a failure: the Location is not requested."""
    receiver.script(Reply(status=302, headers={"Location": receiver.url + "/elsewhere"}))
    delivery = _send(_queue_one(receiver.url))
    assert len(receiver.requests) == 1
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.last_status_code == 302
    assert "not followed" in delivery.last_error


@pytest.mark.django_db
def test_response_body_excerpt_is_capped_at_1_kb(receiver):
    """Only the first 1 KB of a large answer is kept."""
    receiver.script(Reply(body=b"x" * 100_000))
    delivery = _send(_queue_one(receiver.url))
    assert delivery.attempt_log.get().response_excerpt == "x" * 1024


@pytest.mark.django_db
def test_gone_disables_the_endpoint_with_a_reason(receiver):
    """410 Gone fails the delivery for good and disables the endpoint, saying why."""
    receiver.script(Reply(status=410))
    delivery = _send(_queue_one(receiver.url))
    assert delivery.status == Delivery.Status.FAILED
    delivery.endpoint.refresh_from_db()
    assert not delivery.endpoint.enabled
    assert "410 Gone" in delivery.endpoint.disabled_reason


@pytest.mark.django_db
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(receiver, status):
    """429/503 with Retry-After: the next attempt waits at least that long instead of 5 s."""
    receiver.script(Reply(status=status, headers={"Retry-After": "120"}))
    delivery = _send(_queue_one(receiver.url))
    assert delivery.next_attempt_at - timezone.now() > timedelta(seconds=115)


@pytest.mark.django_db
def test_eighth_failure_marks_the_delivery_failed(receiver):
    """After the last attempt of the schedule the delivery is failed, with no next attempt."""
    receiver.script(Reply(status=500))
    delivery = _queue_one(receiver.url)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=7)
    delivery = _send(delivery)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 8
    assert delivery.next_attempt_at is None


@pytest.mark.django_db
def test_endpoint_disabled_after_queueing_receives_nothing(receiver):
    """A delivery queued before its endpoint was disabled is failed without a request."""
    delivery = _queue_one(receiver.url)
    delivery.endpoint.enabled = False
    delivery.endpoint.save()
    assert not delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert "disabled" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.django_db
def test_payload_is_sent_byte_for_byte(receiver):
    """The request body is exactly the payload stored by emit()."""
    delivery = _send(_queue_one(receiver.url))
    assert receiver.requests[0].body.decode() == delivery.event.payload
    assert json.loads(delivery.event.payload)["data"]["products"][0]["sku"] == "A-1"


@pytest.mark.django_db
def test_failing_endpoint_pauses_its_other_deliveries(receiver):
    """After a failure, the endpoint's other deliveries wait for its retry instead of each trying."""
    receiver.script(Reply(status=503))
    failed = _queue_one(receiver.url)
    emit(events.PRODUCT_UPDATED, {"products": []})
    waiting = Delivery.objects.exclude(pk=failed.pk).get()
    failed = _send(failed)
    assert not delivery_send(delivery_id=waiting.pk)
    waiting.refresh_from_db()
    assert len(receiver.requests) == 1
    assert waiting.attempts == 0
    assert waiting.next_attempt_at > failed.next_attempt_at, "the failed delivery's retry goes first"

    retry_time_arrives()
    _send(failed)
    failed.endpoint.refresh_from_db()
    assert failed.endpoint.paused_until is None, "a success resumes the endpoint"
    assert _send(waiting).status == Delivery.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_endpoint_deleted_during_the_request_is_not_an_error(receiver):
    """If staff delete the endpoint while a request is under way, the attempt is dropped quietly."""
    receiver.script(Reply(delay=0.5))
    delivery = _queue_one(receiver.url)

    def delete_from_another_connection():
        endpoint_delete(endpoint=Endpoint.objects.get())
        connection.close()

    deleter = threading.Timer(0.2, delete_from_another_connection)
    deleter.start()
    assert delivery_send(delivery_id=delivery.pk)
    deleter.join()
    assert not Delivery.objects.exists()
    assert len(receiver.requests) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("retry_after", ["²", "1e3", "-5", "Mon, 99 Foo 2026 25:61:00 GMT", "Tue, 01 Dec 2026 10:00:00 -0000"])
def test_retry_after_that_is_not_a_plain_number_or_date_is_ignored(receiver, retry_after):
    """A Retry-After no parser accepts (`²` passes str.isdigit) is ignored: the attempt is logged, the schedule holds."""
    receiver.script(Reply(status=503, headers={"Retry-After": retry_after}))
    delivery = _send(_queue_one(receiver.url))
    assert delivery.attempt_log.get().status_code == 503
    assert timedelta(seconds=4) < delivery.next_attempt_at - timezone.now() < timedelta(seconds=6)


@pytest.mark.django_db
def test_retry_after_never_waits_past_a_day(receiver):
    """A huge Retry-After is capped at a day."""
    receiver.script(Reply(status=429, headers={"Retry-After": "9" * 400}))
    delivery = _send(_queue_one(receiver.url))
    assert timedelta(hours=23) < delivery.next_attempt_at - timezone.now() <= timedelta(hours=24)


@pytest.mark.django_db
def test_nul_bytes_in_the_answer_are_recorded(receiver):
    """PostgreSQL text refuses NUL: the excerpt and a redirect's Location keep a visible stand-in instead."""
    receiver.script(Reply(status=302, body=b"a\x00b", headers={"Location": "/x\x00y"}))
    delivery = _send(_queue_one(receiver.url))
    attempt = delivery.attempt_log.get()
    assert attempt.response_excerpt == "a\N{REPLACEMENT CHARACTER}b"
    assert attempt.error == "Redirect to /x\N{REPLACEMENT CHARACTER}y not followed"


def test_tls_errors_with_a_text_reason_are_described():
    """ssl.SSLError carries its reason as a string, which is not one more exception to look into."""
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.reason = "WRONG_VERSION_NUMBER"
    wrapped = requests.exceptions.SSLError(urllib3.exceptions.SSLError(error))
    assert error in list(_causes(wrapped))
    assert _describe(wrapped, timeout=15) == "TLS error: WRONG_VERSION_NUMBER"


@pytest.fixture
def environment_proxy(monkeypatch, tmp_path, receiver):
    """HTTP_PROXY points at a second receiver, which records what a forwarding proxy would get,
    and a .netrc holds a password for the receiver's host."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ["no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"]:
        monkeypatch.delenv(name, raising=False)
    with Receiver() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.removesuffix("/hook"))
        monkeypatch.setenv("http_proxy", proxy.url.removesuffix("/hook"))
        yield proxy


@pytest.mark.django_db
def test_environment_proxies_and_netrc_are_ignored_by_default(receiver, environment_proxy):
    """With WEBHOOKS_USE_ENV_PROXIES off the request goes straight to the receiver, without .netrc credentials."""
    assert _send(_queue_one(receiver.url)).status == Delivery.Status.SUCCEEDED
    assert environment_proxy.requests == []
    assert "authorization" not in receiver.requests[0].headers


@pytest.mark.django_db
def test_environment_proxies_are_used_when_the_setting_is_on(receiver, environment_proxy, settings):
    """With WEBHOOKS_USE_ENV_PROXIES on the request goes through HTTP_PROXY, naming the receiver's URL."""
    settings.WEBHOOKS_USE_ENV_PROXIES = True
    assert _send(_queue_one(receiver.url)).status == Delivery.Status.SUCCEEDED
    assert receiver.requests == []
    assert environment_proxy.requests[0].path == receiver.url
