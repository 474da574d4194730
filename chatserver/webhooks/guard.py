"""Where a webhook may go: public addresses only, unless an allow-list names the network.

A webhook URL is typed by an admin but fetched by the server, from inside its network: the
classic server-side request forgery. So the host is resolved here, every address it has is
checked (private, loopback, link-local such as the cloud metadata 169.254.169.254,
multicast, reserved, unspecified: refused), and delivery connects to the very address that
was checked, so a DNS answer that changes between check and connect (rebinding) cannot
switch it. Redirects are never followed (delivery.py). The checks are pure; `resolve` is
the one lookup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_URL_CHARS = 2000


class Refused(ValueError):
    """A webhook URL or address that deliveries may not reach; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str  # http or https
    host: str  # as written: the Host header and the name TLS checks
    port: int
    path: str  # with the query


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDRs (or single addresses) for an allow-list; raise Refused naming a bad one."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise Refused(f"{item!r} is not a network like 10.0.0.0/8 or an address") from None
    return tuple(networks)


def parse_url(url: str) -> Target:
    """Check a webhook URL's form (http or https, a host, no user:password); raise Refused."""
    if len(url) > MAX_URL_CHARS:
        raise Refused(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("the URL cannot be read") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL must not carry a user name or password; the signature authenticates")
    if any(ch.isspace() for ch in url):
        raise Refused("the URL must not contain spaces")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path)


def why_refused(address: Address, allow: Iterable[Network] = ()) -> str | None:
    """Return why deliveries may not reach this address, or None when they may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address.version == net.version and address in net for net in allow):
        return None
    for reason, flag in (
        ("loopback", address.is_loopback), ("link-local", address.is_link_local),
        ("multicast", address.is_multicast), ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved), ("private", address.is_private),
    ):
        if flag:
            return f"{address} is a {reason} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def check(addresses: Iterable[Address], allow: Iterable[Network] = ()) -> Address:
    """Return the address to connect to; raise Refused if any of them is refused.

    Every address counts: a name with one public and one private address could otherwise
    be steered to the private one.
    """
    allowed = tuple(allow)
    found = list(addresses)
    if not found:
        raise Refused("the host has no address")
    for address in found:
        reason = why_refused(address, allowed)
        if reason is not None:
            raise Refused(f"{reason}: add its network to the webhook allow-list to deliver there")
    return found[0]


async def resolve(host: str, port: int) -> list[Address]:
    """Return the host's addresses (a literal address is itself); raise Refused if none."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as failed:
        raise Refused(f"{host} cannot be resolved: {failed}") from None
    seen: dict[Address, None] = {}
    for *_, sockaddr in infos:
        seen[ipaddress.ip_address(sockaddr[0])] = None
    return list(seen)


async def target(url: str, allow: Iterable[Network]) -> tuple[Target, Address]:
    """Parse the URL, resolve its host and check every address; return where to connect."""
    parsed = parse_url(url)
    return parsed, check(await resolve(parsed.host, parsed.port), allow)
