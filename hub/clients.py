"""Who is on the other end of a request: the client's address, through trusted proxies only.

Behind a reverse proxy every request comes from the proxy's address, so limits
keyed on ``request.remote`` would lump all clients together. ``X-Forwarded-For``
is believed only when the peer is a configured trusted proxy, and then only up
to the first address that is not one (the header's earlier entries are what the
client itself wrote, and can be anything).
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from aiohttp import web

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"


def proxy_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The trusted proxies as networks (a plain address is a network of one)."""
    return tuple(ip_network(entry, strict=False) for entry in entries)


def client_address(request: web.Request, trusted: tuple[Network, ...]) -> str:
    """The address of the client that made ``request``, as far as it can be known."""
    peer = request.remote or UNKNOWN
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
    ]
    for hop in reversed(forwarded):
        if not _is_trusted(hop, trusted):
            return hop if _parses(hop) else peer
    return peer


def forwarded_url(request: web.Request, trusted: tuple[Network, ...]) -> str | None:
    """The URL a trusted proxy says the client asked for (X-Forwarded-Proto and -Host, as
    Caddy and nginx set them), with the request's path and query; ``None`` otherwise."""
    if not trusted or not _is_trusted(request.remote or UNKNOWN, trusted):
        return None
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    if proto not in ("http", "https") or not host:
        return None
    return f"{proto}://{host}{request.path_qs}"


def request_urls(
    request: web.Request, public_url: str, trusted: tuple[Network, ...]
) -> tuple[str, ...]:
    """The public URL with the request's path and query, then the forwarded one if it differs."""
    public = public_url + request.path_qs
    forwarded = forwarded_url(request, trusted)
    return (public,) if forwarded in (None, public) else (public, forwarded)


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def _parses(address: str) -> bool:
    try:
        ip_address(address)
    except ValueError:
        return False
    return True


def foreign_origin(request: web.Request, public_url: str) -> str | None:
    """The request's ``Origin`` when it names another site than the hub; else ``None``.

    Same-origin is the host the request was sent to, or the hub's public URL
    (a proxy may pass on another Host). No ``Origin`` header: nothing to judge
    (scripts and older browsers); cookies are ``SameSite=Strict`` anyway.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    ours = {request.host, urlsplit(public_url).netloc}
    return None if urlsplit(origin).netloc in ours else origin


def client_key(address: str) -> str:
    """What the per-client limit counts by: the address, or for IPv6 its /64 network.

    One IPv6 subscriber usually holds a whole /64, so counting single addresses
    would give them billions of fresh limits.
    """
    try:
        parsed = ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
