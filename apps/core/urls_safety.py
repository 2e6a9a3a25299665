"""Whether a URL that a user gave us is safe for the server to call (SSRF).

A webhook URL is called by our workers, from inside our network. It must be http(s) (https
only, unless private addresses are allowed), name a host, and every address its host resolves
to must be public: not loopback, private, link-local, shared (100.64/10), reserved, multicast,
unspecified or a cloud metadata address, IPv4-mapped IPv6 included. `allow_private`
(WEBHOOK_ALLOW_PRIVATE, tests and closed networks only) lifts both the address rule and the
https rule. The check runs at create and again before every delivery attempt (a name may
resolve elsewhere by then).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from .exceptions import ApplicationError

# Cloud metadata endpoints (AWS, GCP, Azure, Oracle; AWS's IPv6 one; Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


class UnsafeURL(ApplicationError):
    default_code = "unsafe_url"


def address_is_public(address: str) -> bool:
    """Whether one resolved address may be called: a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in SHARED_NETWORK:
        return False
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def url_check_public(url: str, *, allow_private: bool, field: str = "webhook") -> str:
    """Return `url` when the server may call it; raise UnsafeURL (400, `unsafe_url`, the reason
    also under `field`) if not.

    Resolves the host with socket.getaddrinfo: a name that resolves to any non-public address
    is refused, as is one that does not resolve."""

    def refuse(reason: str) -> UnsafeURL:
        return UnsafeURL(f"{field}: {reason}", extra={field: [reason]})

    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError:
        raise refuse("not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise refuse("only http(s) URLs can receive webhooks.")
    host = parts.hostname
    if not host:
        raise refuse("the URL names no host.")
    if parts.username or parts.password:
        raise refuse("the URL must not carry a user name or password.")
    if allow_private:
        return url
    _public_addresses(url, refuse=refuse)
    return url


def _public_addresses(url: str, *, refuse) -> list[str]:
    parts = urlsplit(url)
    host, scheme = parts.hostname, parts.scheme.lower()
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if scheme == "https" else 80))
    except (socket.gaierror, UnicodeError, OSError):
        raise refuse(f"the host {host} does not resolve.") from None
    addresses = sorted({info[4][0] for info in infos})
    if not addresses or not all(address_is_public(a) for a in addresses):
        raise refuse(
            f"{host} resolves to a loopback, private, link-local or reserved address; "
            "webhooks go to public addresses only."
        )
    if scheme == "http":
        raise refuse("use an https URL.")
    return addresses


@dataclass(frozen=True)
class PinnedTarget:
    """Where to connect for a checked URL: `url` names the checked address itself, so nothing
    resolves the name again between the check and the call (no DNS rebinding); `host` goes in
    the Host header and `sni_hostname` is the name the TLS certificate is verified against."""

    url: str
    host: str
    sni_hostname: str


def url_pin_public(url: str, *, field: str = "webhook") -> PinnedTarget:
    """Check `url` as url_check_public does (private addresses never allowed) and pin it to
    one of the public addresses its host resolved to."""
    url_check_public(url, allow_private=True, field=field)  # the URL's own shape

    def refuse(reason: str) -> UnsafeURL:
        return UnsafeURL(f"{field}: {reason}", extra={field: [reason]})

    address = _public_addresses(url, refuse=refuse)[0]
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host = parts.netloc.rpartition("@")[2]
    return PinnedTarget(
        url=urlunsplit(parts._replace(netloc=netloc)), host=host, sni_hostname=parts.hostname
    )
