"""Who sent a request: the client address behind trusted proxies, and per-strategy source allowlists."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_SHOWN_HOP = 64  # a forwarded "address" that is none: journaled and the lockout's key, so kept short

# Published sender addresses: TradingView's webhook servers and TrendSpider's single one.
SOURCE_ALIASES: dict[str, tuple[str, ...]] = {
    "tradingview": ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"),
    "trendspider": ("3.12.143.24",),
}


def parse_networks(entries: Iterable[str], aliases: bool = True) -> tuple[Network, ...]:
    """Turn `tradingview`, `203.0.113.7` or `203.0.113.0/24` entries into networks; ValueError names a bad one."""
    networks: list[Network] = []
    for entry in entries:
        text = entry.strip()
        if aliases and text.lower() in SOURCE_ALIASES:
            networks.extend(ipaddress.ip_network(a) for a in SOURCE_ALIASES[text.lower()])
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            known = f"{', '.join(SOURCE_ALIASES)}, " if aliases else ""
            example = "203.0.113.0/24"
            raise ValueError(f"{entry!r} is not {known}an IP address or a CIDR network such as {example}") from None
    return tuple(networks)


@lru_cache(maxsize=4096)  # per request, from a small set of peers: parsing an address is not free
def parse_address(text: str | None) -> Address | None:
    """An IP address from a peer or a forwarded hop (`[::1]:80`, `1.2.3.4:5`, quoted), or None if it is not one."""
    if not text:
        return None
    value = text.strip().strip('"')
    if value.startswith("["):  # [v6] or [v6]:port (Forwarded syntax)
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:1.2.3.4 on a dual-stack socket is 1.2.3.4
    return mapped if mapped is not None else address


def contains(networks: Sequence[Network], address: Address | None) -> bool:
    """True when the address is inside one of the networks (an unparseable address never is)."""
    return address is not None and any(address.version == n.version and address in n for n in networks)


def shown_text(text: str, limit: int) -> str:
    """A sender's text as it may be shown and journaled: whole up to `limit` characters, else only its length.

    Never cut: it may hold a secret, which is masked only where it occurs whole (a cut one would be stored in part).
    """
    return text if len(text) <= limit else f"({len(text)} characters)"


def _forwarded_for(value: str) -> list[str]:
    """The `for=` values of an RFC 7239 `Forwarded` header, in order."""
    hops: list[str] = []
    for element in value.split(","):
        found = ""
        for pair in element.split(";"):
            name, _, val = pair.strip().partition("=")
            if name.strip().lower() == "for":
                found = val.strip()
        hops.append(found)  # an element without for= is still a hop, and an unknown one
    return hops


def forwarded_hops(values: Sequence[str], header: str) -> list[str]:
    """The client chain a proxy recorded, oldest first; repeated header fields are joined in order (RFC 9110)."""
    joined = ",".join(values)
    if not joined.strip():
        return []
    if header == "forwarded":
        return _forwarded_for(joined)
    return [hop.strip() for hop in joined.split(",")]


@dataclass(frozen=True)
class Client:
    """The address a request is judged by, and the direct peer it came through."""

    address: Address | None
    shown: str  # as journaled: the address, or the raw text when it was not an address
    peer: str | None
    # The peer is a trusted proxy but it added no address: no header (judged as the proxy's own address), or one
    # whose last untrusted entry is not an address (judged as none). A proxy that appends or sets it does neither.
    unforwarded: bool = False


def client_address(peer: str | None, hops: Sequence[str], trusted: Sequence[Network]) -> Client:
    """The client: the peer, unless the peer is a trusted proxy; then the rightmost hop that is not trusted.

    Walking from the right matters: each proxy appends what it saw, so only the entries our own proxies
    added are reliable; anything left of them may have been written by the client itself.
    """
    peer_address = parse_address(peer)
    trusted_peer = contains(trusted, peer_address)
    if not trusted_peer or not hops:
        return Client(peer_address, str(peer_address) if peer_address else (peer or "unknown"), peer, trusted_peer)
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:  # garbage where an address should be: no allowlist may match it
            return Client(None, shown_text(hop.strip(), MAX_SHOWN_HOP) or "unknown", peer, True)
        if not contains(trusted, address):
            return Client(address, str(address), peer)
    # Every hop is one of our proxies: the leftmost is as close to the client as we can tell.
    first = parse_address(hops[0])
    return Client(first, str(first), peer)
