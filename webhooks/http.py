"""One HTTP POST to a receiver, bounded in time and size, reduced to an outcome we can log.

The request connects to the very address the SSRF guard approved (webhooks.urlguard) and keeps
the host name for the Host header, TLS SNI and the certificate check. It ignores proxies, .netrc
and CA bundles from the environment unless WEBHOOKS_USE_ENV_PROXIES is on, never follows
redirects, reads at most 1 KB of the answer, and ends at its deadline however slowly the receiver
answers. Only public hooks of requests, urllib3 and ssl are used.
"""

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
from requests.utils import get_environ_proxies, select_proxy
from urllib3 import ProxyManager
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from webhooks.urlguard import Target, UnsafeURLError, target_address, url_target

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
    for bytes, not the whole answer: a receiver trickling its TLS handshake or headers a byte at
    a time would otherwise hold a worker for hours."""

    def __init__(self, seconds: float):
        self._at = time.monotonic() + seconds
        self._timers: list[threading.Timer] = []
        self._sockets: list[socket.socket] = []

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self._at

    def watch(self, sock: socket.socket) -> None:
        # A duplicate, because TLS takes over the socket it wraps; shutting it ends the connection.
        watched = sock.dup()
        self._sockets.append(watched)
        timer = threading.Timer(max(0.0, self._at - time.monotonic()), _socket_shut, [watched])
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
            timer.join()
        for sock in self._sockets:
            sock.close()


def _socket_shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer already closed it
        sock.shutdown(socket.SHUT_RDWR)


# The deadline of the request this thread is sending, for the connections it opens.
_sending = threading.local()


class _WatchedHTTPConnection(HTTPConnection):
    """A plain-HTTP connection under the request's deadline from the moment it connects."""

    def connect(self) -> None:
        super().connect()
        _sending.deadline.watch(self.sock)


class _WatchedTLSContext(ssl.SSLContext):
    """Puts each connection under the request's deadline before its TLS handshake."""

    def wrap_socket(self, sock, *args, **kwargs):
        _sending.deadline.watch(sock)
        return super().wrap_socket(sock, *args, **kwargs)


def _tls_context() -> ssl.SSLContext:
    # Verifies the certificate and host name; the CA bundle comes from `verify` (requests' own
    # bundle or WEBHOOKS_CA_BUNDLE), which urllib3 loads into this context.
    context = _WatchedTLSContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


_POOL_CLASSES = {"http": _WatchedHTTPConnectionPool, "https": HTTPSConnectionPool}


class _PinnedAdapter(HTTPAdapter):
    """Connects to `address` when given, and names `target`'s host in the Host header, TLS SNI
    and the certificate check whatever address it connects to."""

    def __init__(self, *, target: Target, address: str | None):
        self._target, self._address = target, address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):  # not SOCKS, whose pools are its own
            manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if self._address:
            host_params["host"] = self._address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self._target.name
            pool_kwargs["ssl_context"] = _tls_context()
        return host_params, pool_kwargs

    def add_headers(self, request, **kwargs):
        request.headers["Host"] = self._target.authority


def _proxy_for(url: str) -> str | None:
    if not settings.WEBHOOKS_USE_ENV_PROXIES:
        return None
    return select_proxy(url, get_environ_proxies(url))


def http_post(*, url: str, body: str, headers: dict[str, str], timeout: float) -> Outcome:
    """POST `body`; never follows redirects, reads at most 1 KB of the answer, gives up after `timeout`.

    The SSRF guard approves the address the request then connects to. Through a proxy
    (WEBHOOKS_USE_ENV_PROXIES) the proxy resolves the name and connects, so the guard's check
    before the request is the only one.
    """
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    deadline = _sending.deadline = _Deadline(timeout)
    try:
        target = url_target(url)
        address = target_address(target)
        proxy = _proxy_for(url)
        with requests.Session() as session:
            session.trust_env = False  # no proxies, .netrc or CA bundle from the environment
            adapter = _PinnedAdapter(target=target, address=None if proxy else address)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            response = session.post(
                url,
                data=body.encode(),
                headers={"content-type": "application/json", "user-agent": USER_AGENT, **headers},
                timeout=(min(CONNECT_TIMEOUT_SECONDS, timeout), timeout),
                allow_redirects=False,
                stream=True,
                proxies={target.scheme: proxy} if proxy else {},
                verify=settings.WEBHOOKS_CA_BUNDLE or True,
            )
            with response:
                excerpt = _read_excerpt(response, deadline, timeout)
    except (requests.RequestException, OSError, ValueError) as exc:  # ValueError: UnsafeURLError too
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
