"""Reading a TLS ClientHello from the first bytes of a connection: the server name and ALPN protocols offered.

Sans-IO, like the rest of `protocol/`: fed the bytes a client sent, it says what the client
asked for before any TLS library has looked at them. The gateway needs this for TLS-ALPN-01
(RFC 8737): the ACME validator and a browser both send the domain as SNI, and only the ALPN
list (`acme-tls/1` alone) tells the validator apart, which Python's `ssl` never shows before
it has chosen the certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClientHello", "ClientHelloReader"]

_HANDSHAKE = 22
_CLIENT_HELLO = 1
_EXT_SERVER_NAME = 0
_EXT_ALPN = 16
#: a ClientHello is a few hundred bytes; post-quantum key shares make it ~2 KB. Anything
#: past this is not worth buffering for.
_MAX_HELLO = 64 * 1024


@dataclass(frozen=True, slots=True)
class ClientHello:
    server_name: str | None
    alpn_protocols: tuple[str, ...]


class _Malformed(Exception):
    pass


class _Cursor:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise _Malformed
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def sub(self, length_bytes: int) -> _Cursor:
        """The vector that follows its length prefix, and skip past it."""
        n = self.uint(length_bytes)
        if self.pos + n > self.end:
            raise _Malformed
        inner = _Cursor(self.data, self.pos, self.pos + n)
        self.pos += n
        return inner

    @property
    def left(self) -> int:
        return self.end - self.pos


class ClientHelloReader:
    """Feed the bytes a client sends, in any pieces; `feed` returns the `ClientHello` once it is
    whole. `done` turns true then, or as soon as the bytes cannot be a ClientHello
    (`hello` stays None): the caller stops feeding either way."""

    __slots__ = ("_handshake", "_records", "done", "hello")

    def __init__(self) -> None:
        self._records = b""  # bytes not yet split into records
        self._handshake = b""  # handshake-layer bytes gathered from the records
        self.done = False
        self.hello: ClientHello | None = None

    def feed(self, data: bytes) -> ClientHello | None:
        if self.done:
            return self.hello
        self._records += data
        try:
            while len(self._records) >= 5:
                if self._records[0] != _HANDSHAKE:
                    raise _Malformed
                length = int.from_bytes(self._records[3:5], "big")
                if len(self._records) < 5 + length:
                    break
                self._handshake += self._records[5 : 5 + length]
                self._records = self._records[5 + length :]
            if len(self._handshake) + len(self._records) > _MAX_HELLO:
                raise _Malformed
            if len(self._handshake) >= 4:
                if self._handshake[0] != _CLIENT_HELLO:
                    raise _Malformed
                size = int.from_bytes(self._handshake[1:4], "big")
                if len(self._handshake) >= 4 + size:
                    self.hello = _parse_body(_Cursor(self._handshake, 4, 4 + size))
                    self.done = True
        except _Malformed:
            self.done = True
        if self.done:
            self._records = self._handshake = b""
        return self.hello


def _parse_body(c: _Cursor) -> ClientHello:
    c.take(2 + 32)  # legacy version, random
    c.sub(1)  # session id
    c.sub(2)  # cipher suites
    c.sub(1)  # compression methods
    server_name: str | None = None
    alpn: tuple[str, ...] = ()
    if c.left == 0:  # no extensions at all (SSL 3.0-style hello)
        return ClientHello(None, ())
    extensions = c.sub(2)
    while extensions.left:
        kind = extensions.uint(2)
        body = extensions.sub(2)
        if kind == _EXT_SERVER_NAME:
            names = body.sub(2)
            while names.left:
                name_type = names.uint(1)
                name = names.sub(2)
                if name_type == 0:  # host_name
                    server_name = name.take(name.left).decode("ascii", "replace")
        elif kind == _EXT_ALPN:
            protocols = body.sub(2)
            found = []
            while protocols.left:
                p = protocols.sub(1)
                found.append(p.take(p.left).decode("ascii", "replace"))
            alpn = tuple(found)
    return ClientHello(server_name, alpn)
