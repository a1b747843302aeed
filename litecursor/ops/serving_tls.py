"""The serving port's TLS: the certificate new handshakes get, swapped live, and TLS-ALPN-01 challenge answers.

The listening socket keeps one `SSLContext` for its whole life. Each new connection is moved
onto the *current* certificate's context just before its handshake starts (OpenSSL's
`SSL_set_SSL_CTX`, which Python exposes as the `SSLObject.context` setter), so installing a
renewed certificate is one assignment: handshakes from then on get it, connections already
open keep the one they negotiated, and nothing restarts.

TLS-ALPN-01 (RFC 8737) needs the opposite of what Python's `ssl` offers: the challenge
certificate must be chosen by the ALPN protocol the client offers (`acme-tls/1`), but
`SSLContext.sni_callback` runs before ALPN is looked at and only sees the server name (the
validator and a browser send the same one), `set_alpn_protocols` only lists what the server
accepts, and no callback ever shows the client's ALPN list. What does work with public API:
`SSLContext.wrap_bio` (a subclass may override it) hands over the memory BIO the event loop
feeds, and `SSLContext.sslobject_class` lets `do_handshake` run first. While a challenge is
pending, `do_handshake` copies the bytes waiting in the BIO (reading them and writing them
back: a BIO is a FIFO), reads the ClientHello with `protocol.tls_hello`, and moves a
connection that offers only `acme-tls/1` for a challenged name onto the challenge context
before OpenSSL has seen a byte. Both asyncio's and uvloop's TLS transports work this way
(tests run the validator's handshake over each). With no challenge pending a handshake costs
one attribute check and the context move; the ClientHello is never parsed.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

from ..protocol.tls_hello import ClientHelloReader
from ..tls import CertificateError, Pathish, new_server_context, server_context

__all__ = ["ACME_TLS_ALPN", "ServingTLS", "context_from_pem"]

ACME_TLS_ALPN = "acme-tls/1"


def context_from_pem(
    cert_pem: bytes,
    key_pem: bytes,
    *,
    alpn: list[str] | None = None,
    context_class: type[ssl.SSLContext] = ssl.SSLContext,
) -> ssl.SSLContext:
    """A server context for a certificate held in memory. OpenSSL (through Python) loads
    chains only from files, so they pass through a private temporary folder, deleted at once."""
    with tempfile.TemporaryDirectory(prefix="litecursor-tls-") as tmp:  # mode 0700
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_bytes(cert_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        if alpn is None:
            return server_context(cert, key, context_class=context_class)
        context = new_server_context(context_class, alpn)
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as err:
            raise CertificateError("<challenge certificate>", str(err)) from None
        return context


class _Connection(ssl.SSLObject):
    """The TLS state of one accepted connection; `do_handshake` first picks its context."""

    _serving: ServingTLS | None
    _incoming: ssl.MemoryBIO | None
    _hello: ClientHelloReader | None

    def do_handshake(self) -> None:
        serving = self._serving
        if serving is not None:
            self._choose_context(serving)
        super().do_handshake()

    def _choose_context(self, serving: ServingTLS) -> None:
        incoming = self._incoming
        if not serving.alpn_challenges or incoming is None:
            self.context = serving.current
            self._serving = None
            return
        if not incoming.pending:  # the event loop calls once before any byte arrived
            return
        data = incoming.read()
        incoming.write(data)  # put the bytes back: OpenSSL reads them next
        reader = self._hello
        if reader is None:
            reader = self._hello = ClientHelloReader()
        hello = reader.feed(data)
        if not reader.done:
            return  # OpenSSL buffers this part; it acts only once the hello is whole
        challenge = None
        if hello is not None and hello.alpn_protocols == (ACME_TLS_ALPN,) and hello.server_name:
            challenge = serving.alpn_challenges.get(hello.server_name.lower())
        self.context = challenge or serving.current
        self._serving = self._hello = None


class _ListeningContext(ssl.SSLContext):
    """The listening socket's context: it marks each connection it creates with its owner."""

    serving: ServingTLS

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        obj: Any = super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)
        obj._serving = self.serving if server_side else None
        obj._incoming = incoming
        obj._hello = None
        return obj


class ServingTLS:
    """Owns the serving port's contexts: `listening` goes to the server once; `current` and the
    challenge contexts change while it runs."""

    __slots__ = ("alpn_challenges", "current", "listening")

    def __init__(self, initial: ssl.SSLContext, *, listening: ssl.SSLContext | None = None) -> None:
        #: the context new handshakes are moved onto
        self.current = initial
        #: lower-cased domain -> the context answering its TLS-ALPN-01 challenge
        self.alpn_challenges: dict[str, ssl.SSLContext] = {}
        lc = listening or new_server_context(_ListeningContext)
        if not isinstance(lc, _ListeningContext):
            raise TypeError("listening must come from ServingTLS")
        lc.serving = self
        lc.sslobject_class = _Connection
        self.listening: ssl.SSLContext = lc

    @classmethod
    def from_files(cls, cert: Pathish, key: Pathish, password: str | None = None) -> ServingTLS:
        """Checked like `tls.server_context`; the listening context holds the same chain, so
        it also serves on its own."""
        listening = server_context(cert, key, password, context_class=_ListeningContext)
        return cls(listening, listening=listening)

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes) -> ServingTLS:
        listening = context_from_pem(cert_pem, key_pem, context_class=_ListeningContext)
        return cls(listening, listening=listening)

    def install(self, context: ssl.SSLContext) -> None:
        """New handshakes get `context` from now on; open connections keep theirs."""
        self.current = context

    def load(self, cert: Pathish, key: Pathish, password: str | None = None) -> None:
        """Check and install a certificate from files; on a `CertificateError` nothing changes."""
        self.install(server_context(cert, key, password))

    def add_alpn_challenge(self, domain: str, cert_pem: bytes, key_pem: bytes) -> None:
        context = context_from_pem(cert_pem, key_pem, alpn=[ACME_TLS_ALPN])
        self.alpn_challenges[domain.lower()] = context

    def remove_alpn_challenge(self, domain: str) -> None:
        self.alpn_challenges.pop(domain.lower(), None)
