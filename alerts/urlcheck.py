"""Webhook targets that must never be called, checked without resolving DNS.

The pure layer sees only the URL text: it refuses literal addresses and well-known names of
cloud metadata services, link-local, multicast, unspecified and reserved addresses. A host name
can still resolve to such an address, so the sender (the adapter) must resolve it, call
:func:`check_address` on every address it would connect to, and connect to the checked address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from alerts.errors import UnsafeUrlError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})

# Instance metadata services hand out cloud credentials to whoever asks from inside the VM.
# AWS/Azure/GCP/Oracle/Huawei/Tencent use 169.254.169.254 (AWS also fd00:ec2::254 on Nitro);
# Alibaba Cloud, common for parks in China, uses 100.100.100.200; ECS task metadata 169.254.170.2.
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTNAMES: Final = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)

# "Private" here means reachable only inside an organisation's network. 100.64.0.0/10 is carrier
# NAT space, not is_private in Python, but just as internal.
PRIVATE_NETWORKS: Final = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10")
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this host on this network": Linux routes it to us
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")

# Forms that inet_aton (and so the HTTP client's resolver) reads as an IPv4 address without DNS:
# 2852039166, 0xa9fea9fe, 0251.0376.0251.0376, 169.254.43518.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$")


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Which internal targets a webhook may have; link-local and metadata are refused regardless.

    Both default to allowed, on purpose: hazgate runs on the park's own network, where the
    receiving SCADA or duty system usually has a private address, and the test suite's receiver
    listens on 127.0.0.1. A deployment that accepts subscriptions from outside the park sets
    ``allow_private=False`` and ``allow_loopback=False`` (settings ``alerts`` section).
    """

    allow_loopback: bool = True
    allow_private: bool = True


DEFAULT_URL_POLICY: Final = UrlPolicy()


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_refusal(ip: IPAddress, policy: UrlPolicy = DEFAULT_URL_POLICY) -> str | None:
    """Why a webhook may not connect to ``ip``, or None when it may."""
    ip = _embedded_ipv4(ip)
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata service address"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return f"{ip} is an unspecified address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_loopback:
        return None if policy.allow_loopback else f"{ip} is a loopback address and allow_loopback is off"
    if any(ip in net for net in PRIVATE_NETWORKS if net.version == ip.version):
        return None if policy.allow_private else f"{ip} is a private address and allow_private is off"
    # After loopback: Python counts ::1 as reserved (::/8).
    if ip.is_reserved or ip == _BROADCAST:
        return f"{ip} is a reserved or broadcast address"
    return None


def check_address(ip: str | IPAddress, policy: UrlPolicy = DEFAULT_URL_POLICY) -> None:
    """For the sender after DNS resolution: raise :class:`UnsafeUrlError` for a refused address."""
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    reason = address_refusal(addr, policy)
    if reason is not None:
        raise UnsafeUrlError(f"webhook target refused: {reason}")


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_webhook_url(url: str, policy: UrlPolicy = DEFAULT_URL_POLICY) -> str:
    """Return ``url`` if a webhook may be sent to it; raise :class:`UnsafeUrlError` saying why not."""
    url = url.strip()
    if not url or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UnsafeUrlError("webhook URL is empty or contains blanks or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"webhook URL {url!r} cannot be parsed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrlError(f"webhook URL must use http or https, not {scheme or 'no scheme'!r}: {url!r}")
    if "@" in parts.netloc:
        raise UnsafeUrlError(
            f"webhook URL {url!r} carries credentials; the subscription's secret signs every request instead"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrlError(f"webhook URL {url!r} has no host")
    if port == 0:
        raise UnsafeUrlError(f"webhook URL {url!r} has port 0")
    suffix = "; webhooks may not target metadata, link-local, multicast, unspecified or reserved addresses"
    if host in METADATA_HOSTNAMES:
        raise UnsafeUrlError(f"webhook URL {url!r} refused: {host} is a cloud metadata service name{suffix}")
    if host == "localhost" or host.endswith(".localhost"):
        if not policy.allow_loopback:
            raise UnsafeUrlError(f"webhook URL {url!r} refused: {host} is loopback and allow_loopback is off")
        return url
    addr = _literal_address(host)
    if addr is not None:
        reason = address_refusal(addr, policy)
        if reason is not None:
            raise UnsafeUrlError(f"webhook URL {url!r} refused: {reason}{suffix}")
    return url
