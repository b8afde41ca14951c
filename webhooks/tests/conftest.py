import contextlib
import socket
import ssl
import time

import pytest
import trustme

from webhooks.models import Delivery
from webhooks.tests.receiver import Receiver


@pytest.fixture(autouse=True)
def _private_urls_allowed(settings):
    """The test receivers listen on loopback: the SSRF guard is off unless a test turns it on."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def receiver(settings):
    """A real HTTP server on loopback that records webhook requests; `receiver.script(...)` its answers.

    The SSRF guard is off so it can be sent to, also in other apps' tests that use this fixture.
    """
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    with Receiver() as running:
        yield running


@pytest.fixture
def tls_ca(settings, tmp_path):
    """A certificate authority made for this test, the only one webhook requests trust."""
    ca = trustme.CA()
    bundle = tmp_path / "webhooks-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    settings.WEBHOOKS_CA_BUNDLE = str(bundle)
    return ca


@pytest.fixture
def https_receiver_for(settings, tls_ca):
    """Start an HTTPS receiver on `localhost` with a certificate from `tls_ca` for the given name.

    The SSRF guard is on, as in production; `localhost` is on the tests' allow-list, so its
    loopback address is accepted through the same checks and the same pinned connection.
    """
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    settings.WEBHOOKS_SSRF_ALLOWED_HOSTS = ["localhost"]
    with contextlib.ExitStack() as stack:

        def start(certificate_name: str = "localhost") -> Receiver:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_ca.issue_cert(certificate_name).configure_cert(context)
            return stack.enter_context(Receiver(host="localhost", tls=context))

        yield start


@pytest.fixture
def https_receiver(https_receiver_for):
    """An HTTPS receiver on `localhost` with a valid certificate, the SSRF guard on."""
    return https_receiver_for()


@pytest.fixture
def closed_port_url():
    """A loopback URL where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def wait_for_delivery():
    """Poll the database until the worker has made `attempts` attempts at a delivery."""

    def wait(delivery: Delivery, attempts: int = 1, timeout: float = 10.0) -> Delivery:
        deadline = time.monotonic() + timeout
        while True:
            delivery.refresh_from_db()
            if delivery.attempts >= attempts and delivery.locked_until is None:
                return delivery
            if time.monotonic() > deadline:
                raise AssertionError(f"delivery still at {delivery.attempts} attempts, status {delivery.status}")
            time.sleep(0.05)

    return wait
