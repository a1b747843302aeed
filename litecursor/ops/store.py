"""Where ACME state lives in the state directory: the account per ACME directory, the certificate per name set.

```
<state-dir>/acme/<directory host and path>/account.key     account key, 0600
                                          /account.json    account URL and contact
                                          /certificates/<first domain>/fullchain.pem
                                          /certificates/<first domain>/privkey.pem   0600
```
Keeping certificates under their directory means a staging certificate is never served once
`--acme-directory` points at production, and the other way round.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..tls import CertificateError, check_certificate
from .state import prepare, write_atomic

__all__ = ["AcmeStore", "HeldCertificate"]


def _directory_folder(url: str) -> str:
    parts = urlsplit(url)
    raw = f"{parts.hostname or 'acme'}{'_' + str(parts.port) if parts.port else ''}{parts.path}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-")


@dataclass(frozen=True, slots=True)
class HeldCertificate:
    """A certificate on disk whose key matches it."""

    leaf: x509.Certificate
    fullchain_pem: bytes

    @property
    def not_before(self) -> dt.datetime:
        return self.leaf.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.leaf.not_valid_after_utc

    @property
    def names(self) -> frozenset[str]:
        try:
            san = self.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return frozenset()
        return frozenset(n.lower() for n in san.get_values_for_type(x509.DNSName))

    @property
    def serial(self) -> str:
        return f"{self.leaf.serial_number:x}"

    def covers(self, domains: tuple[str, ...]) -> bool:
        return {d.lower() for d in domains} <= self.names


class AcmeStore:
    """The files of one ACME directory's account and of one certificate (a set of names)."""

    def __init__(self, state_dir: Path, directory_url: str, domains: tuple[str, ...]) -> None:
        self.root = state_dir / "acme" / _directory_folder(directory_url)
        self.account_key = self.root / "account.key"
        self.account_info = self.root / "account.json"
        folder = self.root / "certificates" / domains[0].lower()
        self.cert = folder / "fullchain.pem"
        self.key = folder / "privkey.pem"
        self.lock = self.root / ".lock"

    def prepare(self) -> None:
        prepare(self.cert.parent)

    def held(self, *, now: dt.datetime | None = None) -> HeldCertificate | None:
        """The stored certificate if both files are there, readable, matching and in date."""
        if not (self.cert.exists() and self.key.exists()):
            return None
        leaf = check_certificate(self.cert, self.key, now=now)  # CertificateError says why not
        return HeldCertificate(leaf, self.cert.read_bytes())

    def held_or_none(
        self, *, now: dt.datetime | None = None
    ) -> tuple[HeldCertificate | None, str | None]:
        """(the held certificate, None) or (None, why the stored one cannot be used)."""
        try:
            return self.held(now=now), None
        except CertificateError as e:
            return None, str(e)

    def save(self, fullchain_pem: bytes, key_pem: bytes) -> HeldCertificate:
        """Store a new certificate (key first: a reader that sees the new chain finds its key)."""
        leaf = x509.load_pem_x509_certificates(fullchain_pem)[0]
        serialization.load_pem_private_key(key_pem, None)  # refuse to store garbage
        write_atomic(self.key, key_pem, 0o600)
        write_atomic(self.cert, fullchain_pem, 0o644)
        return HeldCertificate(leaf, fullchain_pem)
