"""One HTTP POST to a receiver, bounded in time and size, reduced to an outcome we can log."""

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from webhooks.urlguard import UnsafeURLError, address_public, url_check_public

EXCERPT_BYTES = 1024
CONNECT_TIMEOUT_SECONDS = 5.0
USER_AGENT = "product-importer-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    response_ms: int
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    retry_after_seconds: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _text(value: str) -> str:
    """A receiver's text as PostgreSQL can store it (text columns refuse NUL)."""
    return value.replace("\x00", "\N{REPLACEMENT CHARACTER}")


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delta-seconds (ASCII digits only) or an HTTP date; anything else is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None


def _causes(exc: BaseException):
    """The exception and everything it wraps (requests → urllib3 → ssl and socket errors)."""
    seen, stack = set(), [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue  # ssl.SSLError's `reason` is a string
        seen.add(id(current))
        yield current
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, UnsafeURLError):
        return str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return "Timed out connecting"
    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return f"Timed out waiting for the response (after {timeout:g} s)"
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed: the host name does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "Connection refused"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {getattr(cause, 'verify_message', None) or cause.reason or cause}"
    return f"Connection failed ({type(exc).__name__})"


def _read_excerpt(response: requests.Response, deadline: "_Deadline", timeout: float) -> str:
    body = b""
    for chunk in response.iter_content(chunk_size=256):
        body += chunk
        if len(body) >= EXCERPT_BYTES:
            break
        if deadline.passed:
            raise TimeoutError(f"response body still arriving after {timeout:g} s")
    return _text(body[:EXCERPT_BYTES].decode("utf-8", errors="replace"))


class _Deadline:
    """Shuts the request's connections when its time is up. A read timeout bounds each wait
    for bytes, not the whole answer: a receiver trickling its headers a byte at a time would
    otherwise hold a worker for hours."""

    def __init__(self, seconds: float):
        self._at = time.monotonic() + seconds
        self._timers: list[threading.Timer] = []

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self._at

    def watch(self, sock: socket.socket) -> None:
        timer = threading.Timer(max(0.0, self._at - time.monotonic()), _socket_shut, [sock])
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()


def _socket_shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: the request ended in time
        sock.shutdown(socket.SHUT_RDWR)


# The deadline of the request this thread is sending, for the connections it opens.
_sending = threading.local()


class _GuardedConnection:
    """Connects only to the address the SSRF check approved, and not past the request's deadline.

    It resolves the host itself: urllib3 would resolve the name again (`_dns_host` is the name
    it resolves; TLS still checks the certificate against the host name).
    """

    def _new_conn(self):
        if not settings.WEBHOOKS_ALLOW_PRIVATE_URLS:
            self._dns_host = address_public(self._dns_host, self.port)
        sock = super()._new_conn()
        _sending.deadline.watch(sock)
        return sock


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = type("GuardedHTTPConnection", (_GuardedConnection, HTTPConnection), {})


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), {})


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPConnectionPool, "https": _GuardedHTTPSConnectionPool}


def http_post(*, url: str, body: str, headers: dict[str, str], timeout: float) -> Outcome:
    """POST `body`; never follows redirects, reads at most 1 KB of the answer, gives up after `timeout`.

    The SSRF check runs as the request connects, to the very address it approves, and also
    before the request: through a proxy (HTTPS_PROXY and the like) the proxy connects, and
    that first check is the only one.
    """
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    deadline = _sending.deadline = _Deadline(timeout)
    try:
        url_check_public(url)
        with requests.Session() as session:
            session.mount("http://", _GuardedAdapter())
            session.mount("https://", _GuardedAdapter())
            response = session.post(
                url,
                data=body.encode(),
                headers={"content-type": "application/json", "user-agent": USER_AGENT, **headers},
                timeout=(min(CONNECT_TIMEOUT_SECONDS, timeout), timeout),
                allow_redirects=False,
                stream=True,
            )
            with response:
                excerpt = _read_excerpt(response, deadline, timeout)
    except (requests.RequestException, OSError, UnsafeURLError) as exc:
        if deadline.passed and not isinstance(exc, (UnsafeURLError, requests.ConnectTimeout)):
            exc = TimeoutError()  # whatever the shut connection raised
        return Outcome(response_ms=elapsed_ms(), error=_describe(exc, timeout))
    finally:
        deadline.cancel()
    error = ""
    if response.is_redirect:
        error = _text(f"Redirect to {response.headers.get('location', '?')} not followed")
    return Outcome(
        response_ms=elapsed_ms(),
        status_code=response.status_code,
        excerpt=excerpt,
        error=error,
        retry_after_seconds=_retry_after_seconds(response.headers.get("retry-after")),
    )
