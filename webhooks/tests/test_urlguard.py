"""SSRF guard: internal addresses are refused unless WEBHOOKS_ALLOW_PRIVATE_URLS is on."""

import socket

import pytest

from webhooks import events
from webhooks.forms import EndpointForm
from webhooks.http import http_post
from webhooks.models import Delivery
from webhooks.services import delivery_send, emit
from webhooks.tests.factories import endpoint_make


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


def test_a_name_that_turns_private_after_the_check_is_refused_when_connecting(settings, receiver, monkeypatch):
    """DNS rebinding: the name passes the check with a public address, then resolves to our own
    receiver. The connection goes only to an address the guard approved, so nothing is sent."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["8.8.8.8"])  # the first answer; every later one is loopback

    def rebinding_dns(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        return real_getaddrinfo(next(answers, "127.0.0.1"), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    outcome = http_post(url=receiver.url.replace("127.0.0.1", "rebind.example"), body="{}", headers={}, timeout=5)
    assert outcome.status_code is None
    assert "rebind.example resolves to a private or reserved address (127.0.0.1)" in outcome.error
    assert receiver.requests == []
