"""TLS for the gateway's own HTTPS server: checked server contexts, client contexts, dev certificates."""

from __future__ import annotations

import datetime as dt
import os
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import NameOID

__all__ = [
    "ALPN_PROTOCOLS",
    "DEFAULT_DEV_HOSTS",
    "DEV_CERT_LIFETIME",
    "TLS12_CIPHERS",
    "CertificateError",
    "DevCerts",
    "certificate_summary",
    "check_certificate",
    "client_context",
    "dev_certs_instructions",
    "expires_soon",
    "generate_dev_certs",
    "new_server_context",
    "reload_certificates",
    "server_context",
]

# TLS 1.3 suites are all AEAD with forward secrecy already; this string only narrows TLS 1.2.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
# The server speaks HTTP/1.1 only (SSE over h2 buys Cursor nothing and aiohttp has no h2).
ALPN_PROTOCOLS = ["http/1.1"]
DEFAULT_DEV_HOSTS = ("localhost", "127.0.0.1", "::1")
# Apple platforms reject server certificates whose validity period exceeds 825 days even under
# a user-added root, so the leaf gets one year from a not-before just behind "now".
DEV_CERT_LIFETIME = dt.timedelta(days=365)
_CLOCK_SKEW = dt.timedelta(hours=1)

_ENCRYPTED_MARKERS = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")

Pathish = str | os.PathLike[str]


class CertificateError(Exception):
    """A problem with the operator's certificate or key; ``str()`` is one line naming the file."""

    def __init__(self, path: Pathish, problem: str) -> None:
        self.path = os.fspath(path)
        # OpenSSL and OS messages are single-line in practice; make sure of it for the CLI.
        self.problem = " ".join(problem.split())
        super().__init__(f"{self.path}: {self.problem}")


# --- checking the operator's files -------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _read(path: Pathish) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise CertificateError(path, f"cannot read: {err.strerror or err}") from None


def _load_chain_pem(cert: Pathish) -> list[x509.Certificate]:
    data = _read(cert)
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        if b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data:
            raise CertificateError(
                cert,
                "not a PEM certificate (it holds a private key; are --cert and --key swapped?)",
            ) from None
        raise CertificateError(cert, "not a PEM certificate") from None


def _load_leaf(cert: Pathish) -> x509.Certificate:
    return _load_chain_pem(cert)[0]


def _load_key(key: Pathish, password: str | None) -> PrivateKeyTypes:
    data = _read(key)
    encrypted = any(marker in data for marker in _ENCRYPTED_MARKERS)
    if encrypted and password is None:
        # Checked here because OpenSSL would otherwise prompt on the terminal for it.
        raise CertificateError(key, "key is encrypted; pass --key-password")
    try:
        # A password given for an unencrypted key is ignored, as OpenSSL does.
        return serialization.load_pem_private_key(
            data, password.encode() if encrypted and password is not None else None
        )
    except (ValueError, TypeError):
        if encrypted:
            raise CertificateError(key, "wrong password for encrypted key") from None
        raise CertificateError(key, "not a PEM private key") from None
    except UnsupportedAlgorithm:
        raise CertificateError(key, "unsupported private key type") from None


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_certificate(
    cert: Pathish, key: Pathish, password: str | None = None, *, now: dt.datetime | None = None
) -> x509.Certificate:
    """Check the files a server would load and return the leaf certificate.

    Raises ``CertificateError`` if either file is unreadable or not PEM, the leaf (first
    certificate) is expired or not yet valid, the key is encrypted and the password is
    missing or wrong, or the key does not belong to the leaf.
    """
    leaf = _load_leaf(cert)
    moment = now or _now()
    if moment > leaf.not_valid_after_utc:
        raise CertificateError(
            cert, f"certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d} (UTC)"
        )
    if moment < leaf.not_valid_before_utc:
        raise CertificateError(
            cert, f"certificate not valid until {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} (UTC)"
        )
    private_key = _load_key(key, password)
    if _spki(private_key.public_key()) != _spki(leaf.public_key()):
        raise CertificateError(key, f"private key does not match certificate {os.fspath(cert)}")
    return leaf


def _load_into(context: ssl.SSLContext, cert: Pathish, key: Pathish, password: str | None) -> None:
    try:
        context.load_cert_chain(os.fspath(cert), os.fspath(key), password)
    except ssl.SSLError as err:
        # What cryptography accepts OpenSSL may still refuse (e.g. a key too small for its
        # security level); report it the same way.
        raise CertificateError(cert, f"rejected by OpenSSL: {err.reason or err}") from None


# --- contexts ------------------------------------------------------------------------------------


def new_server_context(
    context_class: type[ssl.SSLContext] = ssl.SSLContext, alpn: Sequence[str] = ALPN_PROTOCOLS
) -> ssl.SSLContext:
    """A TLS server context with no certificate yet: TLS 1.2+, AEAD ciphers, the ALPN list."""
    context = context_class(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= (
        ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    )
    context.set_alpn_protocols(list(alpn))
    return context


def server_context(
    cert: Pathish,
    key: Pathish,
    password: str | None = None,
    *,
    context_class: type[ssl.SSLContext] = ssl.SSLContext,
) -> ssl.SSLContext:
    """A checked TLS server context: TLS 1.2+, AEAD ciphers, ALPN http/1.1, the given chain."""
    check_certificate(cert, key, password)
    context = new_server_context(context_class)
    _load_into(context, cert, key, password)
    return context


def reload_certificates(
    context: ssl.SSLContext, cert: Pathish, key: Pathish, password: str | None = None
) -> None:
    """Check and swap in a renewed certificate; new connections use it, open ones are kept.

    On any problem the context keeps serving the old certificate.
    """
    check_certificate(cert, key, password)
    _load_into(context, cert, key, password)


def client_context(cafile: Pathish | None = None) -> ssl.SSLContext:
    """A verifying client context trusting only ``cafile`` if given, else the system roots."""
    context = ssl.create_default_context(cafile=os.fspath(cafile) if cafile is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context


# --- describing a certificate for the startup log ----------------------------------------------


def _common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _alt_names(leaf: x509.Certificate) -> list[str]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)] + [
        f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)
    ]


def certificate_summary(cert: Pathish, *, now: dt.datetime | None = None) -> str:
    """One line for the startup log: subject CN, alt names, issuer and expiry of the leaf."""
    leaf = _load_leaf(cert)
    subject = _common_name(leaf.subject)
    issuer = _common_name(leaf.issuer) or leaf.issuer.rfc4514_string()
    names = ", ".join(_alt_names(leaf)) or "none"
    expires = leaf.not_valid_after_utc
    days = (expires - (now or _now())).days
    left = f"in {days} days" if days >= 0 else "EXPIRED"
    return (
        f"certificate {os.fspath(cert)}: CN={subject or '-'}; names: {names}; issuer: {issuer}; "
        f"expires {expires:%Y-%m-%d %H:%M} UTC ({left})"
    )


def expires_soon(cert: Pathish, days: int = 14, *, now: dt.datetime | None = None) -> bool:
    """Whether the leaf expires within ``days`` (or already has): worth a startup warning."""
    return _load_leaf(cert).not_valid_after_utc - (now or _now()) < dt.timedelta(days=days)


# --- dev certificates ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DevCerts:
    """Where ``generate_dev_certs`` wrote the CA to trust, the served chain and its key."""

    ca: Path
    cert: Path
    key: Path

    def __iter__(self) -> Iterator[Path]:
        return iter((self.ca, self.cert, self.key))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL creates the file with its final mode, so the key is never readable by others,
    # and it refuses symlinks planted at the path.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def generate_dev_certs(
    directory: Pathish, hosts: Sequence[str] = (), force: bool = False
) -> DevCerts:
    """Make a throwaway CA and a leaf for ``hosts`` (DNS names and IPs) in ``directory``.

    Writes ``ca.pem`` (the root to trust), ``cert.pem`` (leaf then intermediate, the shape of
    a real full chain) and ``key.pem`` (mode 0600). The CA keys are never written, so trusting
    ``ca.pem`` trusts this leaf and nothing anyone could issue later. Existing files are only
    replaced with ``force``; otherwise ``FileExistsError`` names them.
    """
    base = Path(directory)
    certs = DevCerts(ca=base / "ca.pem", cert=base / "cert.pem", key=base / "key.pem")
    existing = [p for p in certs if p.exists() or p.is_symlink()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise FileExistsError(f"refusing to overwrite {names}; use --force to replace them")
    names_for_cert = list(dict.fromkeys(h.strip() for h in hosts if h.strip())) or list(
        DEFAULT_DEV_HOSTS
    )

    now = _now()
    stamp = f"{now:%Y-%m-%d %H:%M:%S} UTC"
    root = trustme.CA(
        organization_name="litecursor", organization_unit_name=f"litecursor dev CA {stamp}"
    )
    intermediate = trustme.CA(
        parent_cert=root,
        organization_name="litecursor",
        organization_unit_name=f"litecursor dev intermediate {stamp}",
    )
    first = names_for_cert[0]
    try:
        leaf = intermediate.issue_cert(
            *names_for_cert,
            common_name=first if len(first) <= 64 else None,
            organization_name="litecursor",
            organization_unit_name="litecursor dev server",
            not_before=now - _CLOCK_SKEW,
            not_after=now + DEV_CERT_LIFETIME,
        )
    except ValueError as err:
        raise ValueError(f"invalid host name or IP address in {names_for_cert}: {err}") from None

    base.mkdir(parents=True, exist_ok=True)
    for path in existing:
        path.unlink()
    _write_new(certs.key, leaf.private_key_pem.bytes(), 0o600)
    _write_new(certs.cert, b"".join(blob.bytes() for blob in leaf.cert_chain_pems), 0o644)
    _write_new(certs.ca, root.cert_pem.bytes(), 0o644)
    return certs


def dev_certs_instructions(certs: DevCerts) -> str:
    """What ``litecursor certs`` prints: how to serve and trust the dev certificates."""
    ca, cert, key = (os.fspath(p) for p in certs)
    return f"""\
Wrote {ca} (dev CA), {cert} (certificate + chain) and {key} (private key, mode 0600).

Start the gateway with:  --cert {cert} --key {key}

Trust the dev CA in local clients (it is only good for this machine's names):
  curl:            curl --cacert {ca} https://localhost:PORT/v1/models
  Python/openai:   SSL_CERT_FILE={ca} python your_script.py
                   (replaces the default CA bundle for that process only)
  requests:        REQUESTS_CA_BUNDLE={ca} python your_script.py
  Node.js:         NODE_EXTRA_CA_CERTS={ca} node your_script.js
  Debian/Ubuntu:   sudo cp {ca} /usr/local/share/ca-certificates/litecursor-dev-ca.crt
                   sudo update-ca-certificates
  macOS:           sudo security add-trusted-cert -d -r trustRoot \\
                     -k /Library/Keychains/System.keychain {ca}
Regenerating makes a new CA, so trust the new {ca} again after `litecursor certs --force`.

Cursor itself will NOT accept these certificates. Cursor sends requests to your gateway
from Cursor's own servers (it refuses localhost and private IPs), so the gateway must be
reachable on a public name with a publicly trusted certificate. Use one of:
  - a VM with a DNS name and Let's Encrypt (certbot certonly --standalone -d gw.example.com,
    then --cert .../fullchain.pem --key .../privkey.pem),
  - a tunnel that terminates TLS for you (cloudflared, ngrok),
  - a TLS-terminating reverse proxy in front (Caddy, nginx) with --insecure-http on loopback.
See certs/README.md. Dev certificates are for local clients and tests.
"""
