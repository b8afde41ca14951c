"""Which webhook URLs we send to: a well-formed http(s) URL whose host resolves only to public
addresses, refusing loopback, private, link-local (cloud metadata at 169.254.169.254),
reserved and multicast ones (SSRF).

Checked when an endpoint is saved, and again by every request (webhooks.http), which then
connects to the very address this check approved: what a name resolves to can change in
between (DNS rebinding). WEBHOOKS_ALLOW_PRIVATE_URLS turns the address check off (development);
WEBHOOKS_SSRF_ALLOWED_HOSTS lifts it for a few names (tests with a local HTTPS receiver).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from urllib3.util import parse_url

DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeURLError(ValueError):
    """The URL cannot receive webhooks; the message says why, for staff."""


@dataclass(frozen=True)
class Target:
    """Where a webhook URL sends to: its host name is ASCII (IDNA), an IPv6 address has no brackets."""

    scheme: str
    host: str
    port: int

    @property
    def name(self) -> str:
        """The host as the Host header, TLS SNI and the certificate check spell it."""
        return self.host.rstrip(".")

    @property
    def authority(self) -> str:
        """The Host header's value."""
        name = f"[{self.name}]" if ":" in self.name else self.name
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


def url_target(url: str) -> Target:
    """The scheme, host and port `url` sends to, or UnsafeURLError for a URL no request could use.

    The host goes through the same encoders as a request (urllib3's URL parser, then the IDNA
    codec of the resolver), so a URL accepted here never fails in them later.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError("The port must be a number from 1 to 65535.") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsafeURLError("Only http and https URLs can receive webhooks.")
    if port == 0:
        raise UnsafeURLError("The port must be a number from 1 to 65535.")
    if not parts.hostname:
        raise UnsafeURLError("The URL has no host.")
    try:
        host = (parse_url(url).host or "").strip("[]")
        host.encode("idna")  # every label 1 to 63 characters
    except ValueError:  # LocationParseError, UnicodeError
        host = ""
    if not host:
        raise UnsafeURLError(f"“{parts.hostname}” is not a valid host name.")
    return Target(scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme])


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _private_allowed(target: Target) -> bool:
    allowed = {host.lower().rstrip(".") for host in settings.WEBHOOKS_SSRF_ALLOWED_HOSTS}
    return settings.WEBHOOKS_ALLOW_PRIVATE_URLS or target.name.lower() in allowed


def target_address(target: Target) -> str:
    """The address to connect to: the first the host resolves to, once every one of them is
    allowed (else UnsafeURLError). A host that does not resolve raises socket.gaierror."""
    addresses = [info[4][0] for info in socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)]
    if not _private_allowed(target):
        refused = sorted({address for address in addresses if not _address_is_public(address)})
        if refused:
            raise UnsafeURLError(
                f"{target.name} resolves to a private or reserved address ({', '.join(refused)}); "
                "webhooks may only be sent to public addresses."
            )
    return addresses[0]
