"""ACME challenge answers: HTTP-01 on the plain-HTTP port (which otherwise redirects to HTTPS), TLS-ALPN-01 on the serving port.

The ACME order (in a worker thread) publishes each answer on the `ChallengeBoard` before it
tells the CA to validate, and withdraws it afterwards; the listeners read the board on the
event loop. Single dict operations are atomic under the GIL, which is all the sharing needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .serving_tls import ServingTLS

log = logging.getLogger("litecursor.acme")

__all__ = ["ACME_IDENTIFIER", "ChallengeBoard", "http_app", "tls_alpn_certificate"]

#: id-pe-acmeIdentifier (RFC 8737 section 6.1)
ACME_IDENTIFIER = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


def tls_alpn_certificate(domain: str, key_authorization: str) -> tuple[bytes, bytes]:
    """The self-signed certificate that answers a TLS-ALPN-01 challenge for `domain`: the name
    as its only subjectAltName and the SHA-256 of the key authorization in a critical
    acmeIdentifier extension. Returns (certificate PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    # the extension's value is an ASN.1 OCTET STRING holding the 32-byte digest
    value = b"\x04\x20" + digest
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER, value), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class ChallengeBoard:
    """The challenge answers currently published, and which challenge types can be answered."""

    __slots__ = ("http01", "http_listening", "serving")

    def __init__(self, serving: ServingTLS | None = None, *, http_listening: bool = False) -> None:
        #: token -> key authorization, served at /.well-known/acme-challenge/<token>
        self.http01: dict[str, str] = {}
        #: the serving port's TLS, where TLS-ALPN-01 answers go (None: plain HTTP serving)
        self.serving = serving
        #: whether a plain-HTTP listener (the CA's port 80) is up to answer HTTP-01
        self.http_listening = http_listening

    def types(self) -> list[str]:
        """The challenge types this process can answer, preferred first. HTTP-01 first: it
        works behind more network setups (a TCP proxy in front of :443 breaks TLS-ALPN-01)."""
        kinds = []
        if self.http_listening:
            kinds.append("http-01")
        if self.serving is not None:
            kinds.append("tls-alpn-01")
        return kinds

    def publish(self, kind: str, domain: str, token: str, key_authorization: str) -> None:
        if kind == "http-01":
            self.http01[token] = key_authorization
        elif kind == "tls-alpn-01" and self.serving is not None:
            cert, key = tls_alpn_certificate(domain, key_authorization)
            self.serving.add_alpn_challenge(domain, cert, key)
        else:
            raise ValueError(f"cannot answer a {kind} challenge here")

    def withdraw(self, kind: str, domain: str, token: str) -> None:
        if kind == "http-01":
            self.http01.pop(token, None)
        elif kind == "tls-alpn-01" and self.serving is not None:
            self.serving.remove_alpn_challenge(domain)


def http_app(board: ChallengeBoard, https_port: int | None) -> web.Application:
    """The plain-HTTP listener: HTTP-01 answers, and a permanent redirect to HTTPS for every
    other request (308 keeps the method and body). `https_port` None: redirects are off
    (the serving port is plain HTTP itself), other paths get 404."""

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(CHALLENGE_PREFIX) and request.method in ("GET", "HEAD"):
            token = path[len(CHALLENGE_PREFIX) :]
            answer = board.http01.get(token)
            if answer is None:
                log.info("http-01: no challenge %r pending (asked by %s)", token, request.remote)
                raise web.HTTPNotFound(text="no such ACME challenge\n")
            log.info(
                "http-01: answered challenge for %s (asked by %s)", request.host, request.remote
            )
            return web.Response(text=answer, content_type="text/plain")
        if https_port is None:
            raise web.HTTPNotFound(text="not found\n")
        host = _hostname(request.host)
        if not host:
            raise web.HTTPBadRequest(text="a Host header is needed to redirect to HTTPS\n")
        port = "" if https_port == 443 else f":{https_port}"
        raise web.HTTPPermanentRedirect(f"https://{host}{port}{request.rel_url}")

    from ..server.connection import server_header

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_response_prepare.append(server_header)
    return app


def _hostname(host: str) -> str:
    """The Host header without its port; IPv6 literals keep their brackets."""
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else ""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    # a header with spaces, slashes or the like is not a name to send anyone to
    if not name or any(c in name for c in "/\\@ \t?#"):
        return ""
    return name
