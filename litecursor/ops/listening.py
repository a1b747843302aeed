"""The serving port's listening sockets, owned by the process for its whole life (reloads hand out duplicates)."""

from __future__ import annotations

import socket

__all__ = ["DEFAULT_BACKLOG", "listening_sockets"]

#: connections the system queues before they are accepted (`--backlog`; the kernel caps it at
#: net.core.somaxconn): a burst of new streams (Cursor opening many at once) must not find the
#: queue full, as aiohttp's 128 left it, and wait seconds for their retries
DEFAULT_BACKLOG = 2048


def listening_sockets(
    host: str, port: int, *, reuse_port: bool = False, backlog: int = DEFAULT_BACKLOG
) -> list[socket.socket]:
    """Bound, listening sockets for every address `host` resolves to (as asyncio binds them).
    The runtime keeps them for its whole life and gives each generation's server a duplicate,
    so retiring a generation never closes the port nor drops a connection in its queue."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                # as asyncio does: an IPv6 socket listens on IPv6 only (0.0.0.0 is its own)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
            if not port:  # port 0 (tests): the first address decides, the others follow
                break
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
