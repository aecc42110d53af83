"""Where the service may connect: one policy for every request it sends out.

Group websites are on the public internet. An address inside the service's own network
(this machine, a private network, a cloud's metadata service at 169.254.169.254) is never a
group's website, however a configuration, a redirect, a next page or a discovered link
leads there: a hostile upstream could otherwise make the service read what is behind it
and republish it.

The check runs on the address each socket is about to connect to (aiohttp's public
`socket_factory` seam), after name resolution: it covers every redirect hop, every host an
adapter is led to, IP literals and names that resolve to internal addresses (DNS
rebinding included, since it is the connected address that is checked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc
from aiohappyeyeballs import AddrInfoType

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5  # a site that moved, plus http -> https and a trailing slash, fits
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: an IPv4 address inside IPv6


class RefusedAddressError(OSError):
    """A connection to an address the policy refuses; the message says why, in words."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """The outbound policy: public addresses only, unless a network is allowed."""

    # Networks that really host a group on an internal address (FEEDS_ALLOW_NETWORKS).
    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> Outbound:
        """From CIDR strings such as "10.1.0.0/16"; raises ValueError naming a bad one."""
        allowed = []
        for text in networks:
            text = text.strip()
            if not text:
                continue
            try:
                allowed.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(
                    f"expected networks such as 10.1.0.0/16 or 127.0.0.1, got {text!r}"
                ) from None
        return cls(tuple(allowed))

    def refusal(self, address: str) -> str | None:
        """Why the service must not connect to `address` (an IP), or None if it may."""
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{address} is not an IP address"
        for candidate in _embedded(ip):
            if any(candidate in network for network in self.allow if
                   network.version == candidate.version):  # fmt: skip
                return None
        for candidate in _embedded(ip):
            reason = _internal(candidate)
            if reason:
                return f"{address} is {reason}"
        return None

    async def refusal_of_url(self, url: str) -> str | None:
        """Why a connection to `url`'s host would be refused, or None (also when the name
        does not resolve: that is for the harvest to report, not a matter of policy)."""
        host = urlsplit(url).hostname
        if not host:
            return f"{url} names no host"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return self.refusal(host)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError:
            return None
        reasons = [self.refusal(str(info[4][0])) for info in found]
        if found and all(reasons):
            return f"{host} resolves to {reasons[0]}"
        return None

    def connector(self, *, limit: int = 100, limit_per_host: int = 0) -> aiohttp.TCPConnector:
        """A connector whose every connection passes this policy."""
        return aiohttp.TCPConnector(
            resolver=PolicyResolver(self),
            socket_factory=self.socket_factory,
            limit=limit,
            limit_per_host=limit_per_host,
        )

    def socket_factory(self, info: AddrInfoType) -> socket.socket:
        """A socket for `info`, unless its address is refused (aiohttp's socket_factory)."""
        family, kind, proto, _, address = info
        reason = self.refusal(str(address[0]))
        if reason:
            raise RefusedAddressError(
                f"refused to connect: {reason}, never a group's website"
                " (FEEDS_ALLOW_NETWORKS allows a network that really hosts one)"
            )
        return socket.socket(family=family, type=kind, proto=proto)


class PolicyResolver(aiohttp.abc.AbstractResolver):
    """The system's resolver, keeping only the addresses the policy allows.

    The socket factory refuses the rest anyway; refusing here names the host, and a name
    with both a public and an internal address is only ever connected to the public one.
    """

    def __init__(self, policy: Outbound) -> None:
        self.policy = policy
        self.resolver = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        found = await self.resolver.resolve(host, port, family)
        allowed = [entry for entry in found if not self.policy.refusal(entry["host"])]
        if not allowed:
            reason = self.policy.refusal(found[0]["host"]) if found else "no address"
            raise RefusedAddressError(
                f"refused to connect to {host}: {reason}, never a group's website"
                " (FEEDS_ALLOW_NETWORKS allows a network that really hosts one)"
            )
        return allowed

    async def close(self) -> None:
        await self.resolver.close()


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """Any IPv4 address `ip` carries (mapped, 6to4, Teredo, NAT64), then `ip` itself: the
    carried one says best where a connection would end up."""
    found: list[IPAddress] = []
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour:
            found.append(ip.sixtofour)
        if ip.teredo:
            found.append(ip.teredo[1])
        if ip in NAT64:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [*found, ip]


def _internal(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is, in words; None for a public one."""
    if ip.is_loopback:
        return "a loopback address (this machine itself)"
    if ip.is_link_local:
        return "a link-local address (such as a cloud's metadata service)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "the unspecified address (this machine itself)"
    if ip.is_reserved:
        return "a reserved address, not on the public internet"
    if ip.is_private and not ip.is_global:
        return "a private network address"
    if not ip.is_global:
        return "a reserved address, not on the public internet"
    return None


async def bounded(
    stream: aiohttp.StreamReader, limit: int, error: type[Exception] = ValueError
) -> bytes:
    """A response body of at most `limit` bytes; past it, `error` (the rest is not read).
    `StreamReader.read(n)` returns what has come so far, not n bytes: a body is read in
    chunks until it ends."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise error(f"larger than {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
