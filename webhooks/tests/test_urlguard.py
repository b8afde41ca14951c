"""SSRF guard: internal addresses are refused unless WEBHOOKS_ALLOW_PRIVATE_URLS is on."""

import socket

import pytest
from django.core.exceptions import ValidationError

from webhooks import events
from webhooks.forms import EndpointForm
from webhooks.http import http_post
from webhooks.models import Delivery
from webhooks.services import delivery_send, emit
from webhooks.tests.factories import endpoint_make
from webhooks.validators import endpoint_url_validate


def _form(url: str) -> EndpointForm:
    return EndpointForm({"url": url, "description": "", "event_types": [events.PRODUCT_CREATED]})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_form_refuses_internal_addresses(settings, url):
    """Loopback, private, link-local (cloud metadata), unspecified and multicast addresses are refused."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    form = _form(url)
    assert not form.is_valid()
    assert "private or reserved" in form.errors["url"][0]


def test_form_accepts_a_public_address(settings):
    """A public address passes the guard."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    assert _form("https://93.184.215.14/hook").is_valid()


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "javascript:alert(1)"])
def test_form_refuses_other_schemes(url):
    """Only http and https URLs are accepted."""
    assert "url" in _form(url).errors


def test_setting_allows_loopback_for_development(settings):
    """With the setting on (development, tests), a local receiver is accepted."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    assert _form("http://127.0.0.1:9000/hook").is_valid()


@pytest.mark.django_db
def test_send_time_check_refuses_an_internal_address(settings, receiver):
    """An endpoint saved while allowed (or re-pointed by DNS) is still refused when sending."""
    endpoint_make(url=receiver.url)
    emit(events.PRODUCT_CREATED, {"products": []})
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    delivery = Delivery.objects.get()
    assert delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert "private or reserved" in delivery.last_error
    assert receiver.requests == []


def test_a_name_that_resolves_elsewhere_later_is_sent_to_the_address_approved(settings, receiver, monkeypatch):
    """DNS rebinding: the name is resolved once, and the request connects to that approved
    address (our receiver), not to what the name resolves to afterwards (where nothing listens)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    settings.WEBHOOKS_SSRF_ALLOWED_HOSTS = ["rebind.example"]
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1"])  # the first answer; every later one is 127.0.0.2
    lookups = []

    def rebinding_dns(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        return real_getaddrinfo(next(answers, "127.0.0.2"), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    outcome = http_post(url=receiver.url.replace("127.0.0.1", "rebind.example"), body="{}", headers={}, timeout=5)
    assert outcome.status_code == 200, outcome.error
    assert lookups == ["rebind.example"]
    assert receiver.requests[0].headers["host"] == f"rebind.example:{receiver.server.server_port}"


LONG_IDN_HOST = "ä" * 60 + ".example"  # IDNA cannot encode it: its label is too long
# Each URL no request could use, with the message its form error and its stored delivery give.
BAD_URLS = {
    f"https://{LONG_IDN_HOST}/": (f"“{LONG_IDN_HOST}” is not a valid host name.",) * 2,
    "https://example.com:70000/hook": ("The port must be a number from 1 to 65535.",) * 2,
    "https://[::1]:99999/hook": ("The port must be a number from 1 to 65535.",) * 2,
    "https://a..b/hook": ("Enter a valid URL.", "“a..b” is not a valid host name."),
}


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", BAD_URLS)
def test_form_refuses_urls_no_request_could_use(settings, url, allow_private):
    """Host names IDNA cannot encode, empty labels and ports past 65535 are form errors, with the guard on or off."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = allow_private
    form = _form(url)
    assert not form.is_valid()
    assert form.errors["url"] == [BAD_URLS[url][0]]


@pytest.mark.parametrize("url", BAD_URLS)
def test_validator_raises_a_validation_error_for_the_api(url):
    """The form's check is one function other interfaces (the API) call: it raises ValidationError."""
    with pytest.raises(ValidationError) as raised:
        endpoint_url_validate(url)
    assert raised.value.messages == [BAD_URLS[url][0]]


@pytest.mark.django_db
@pytest.mark.parametrize("url", BAD_URLS)
def test_a_stored_bad_url_makes_a_failed_attempt_with_a_clear_message(url):
    """An endpoint saved before these checks existed is sent to without a crash: the attempt is logged and retried."""
    endpoint_make(url=url)
    emit(events.PRODUCT_CREATED, {"products": []})
    delivery = Delivery.objects.get()
    assert delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempt_log.get().error == BAD_URLS[url][1]
