"""Trusted proxies: the real client address and scheme from X-Forwarded-For / -Proto, believed only from `--trusted-proxy` peers.

A proxy appends the address it received the request from to X-Forwarded-For, so the header
reads client, proxy1, proxy2, ... and anyone can write the left part. Reading from the right
and skipping the addresses of proxies we trust stops at the first address a trusted proxy saw
connect: that is the client. A request from a peer we do not trust keeps its peer address
and its own scheme, whatever its headers say.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Forwarded", "TrustedProxies"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> Address | None:
    """An address as proxies write it: bare, `v4:port`, `[v6]` or `[v6]:port`."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@dataclass(frozen=True, slots=True)
class Forwarded:
    client: str
    scheme: str | None  # None: the connection's own


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, values: Iterable[str]) -> TrustedProxies:
        """Addresses and networks (`127.0.0.1`, `10.0.0.0/8`, `::1`); a comma-separated list is
        split. ValueError names the bad entry."""
        networks: list[Network] = []
        for value in values:
            for item in value.split(","):
                item = item.strip()
                if not item:
                    continue
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(
                        f"--trusted-proxy {item!r}: not an IP address or network"
                    ) from None
        return cls(tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in n for n in self.networks)

    def resolve(
        self, peer: str | None, forwarded_for: Sequence[str], forwarded_proto: Sequence[str]
    ) -> Forwarded | None:
        """The client behind a trusted `peer`, or None when the peer is not trusted (or sent
        no X-Forwarded-For): then the connection speaks for itself."""
        if not self.trusts(_address(peer or "")) or not forwarded_for:
            return None
        hops = [h for value in forwarded_for for h in value.split(",")]
        client = peer or ""
        for hop in reversed(hops):
            addr = _address(hop)
            if addr is None:
                break  # garbage left of here was written by someone we cannot vouch for
            client = str(addr)
            if not self.trusts(addr):
                break
        scheme = None
        protos = [p.strip().lower() for value in forwarded_proto for p in value.split(",")]
        if protos and protos[-1] in ("http", "https"):
            scheme = protos[-1]
        return Forwarded(client, scheme)
