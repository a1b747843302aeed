"""What `serve --domain` asks of ACME: the names, the directory, the contact, the CA bundle (no ACME library import)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LETS_ENCRYPT", "AcmeSettings"]

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


@dataclass(frozen=True, slots=True)
class AcmeSettings:
    domains: tuple[str, ...]
    directory: str = LETS_ENCRYPT
    email: str | None = None
    #: a CA bundle to trust the directory's HTTPS with (a private CA such as pebble)
    ca_bundle: str | None = None
