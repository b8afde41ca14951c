"""Refuse webhook URLs that point inside our network (SSRF): loopback, private, link-local
(cloud metadata at 169.254.169.254), reserved and multicast addresses.

Checked when an endpoint is saved and again when every request connects, to the address the
check approved (webhooks.http), because what a host name resolves to can change. WEBHOOKS_ALLOW_PRIVATE_URLS turns the check off (development and
tests, where receivers run on this machine).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeURLError(ValueError):
    pass


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_check_public(url: str) -> None:
    """Raise UnsafeURLError unless every address the URL's host resolves to is public.

    A host that does not resolve raises socket.gaierror (the caller reports a DNS failure).
    """
    if settings.WEBHOOKS_ALLOW_PRIVATE_URLS:
        return
    parts = urlsplit(url)
    if not parts.hostname:
        raise UnsafeURLError("The URL has no host.")
    address_public(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def address_public(host: str, port: int) -> str:
    """The address to connect to for `host`: the first it resolves to, once all of them are
    public (else UnsafeURLError). Connecting to this very address, rather than resolving the
    name again, keeps a DNS answer that changes in between (DNS rebinding) out of our network."""
    addresses = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    refused = sorted({address for address in addresses if not _address_is_public(address)})
    if refused:
        raise UnsafeURLError(
            f"{host} resolves to a private or reserved address ({', '.join(refused)}); "
            "webhooks may only be sent to public addresses."
        )
    return addresses[0]
