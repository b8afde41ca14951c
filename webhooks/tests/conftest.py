import socket
import time

import pytest

from webhooks.models import Delivery
from webhooks.tests.receiver import Receiver


@pytest.fixture
def receiver():
    """A real HTTP server on loopback that records webhook requests; `receiver.script(...)` its answers."""
    with Receiver() as running:
        yield running


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
