"""Certificate files from another tool (certbot, a company CA): loaded, re-read on reload, and watched.

A renewal by another tool replaces the files (certbot swaps the symlinks under `live/`); the
watcher polls their status every few seconds (following symlinks) and installs a changed
pair once it checks out. A pair caught half-written, or simply wrong, is refused with one log
line and the old certificate keeps serving until the files change again.
"""

from __future__ import annotations

import asyncio
import logging
import os

from ..tls import CertificateError, Pathish, certificate_summary
from .serving_tls import ServingTLS

log = logging.getLogger("litecursor.tls")

__all__ = ["CertificateFiles"]

Signature = tuple[tuple[int, int, int, int] | None, ...]


def _stat(path: Pathish) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class CertificateFiles:
    __slots__ = ("_refused", "_seen", "cert", "key", "password", "serving")

    def __init__(
        self,
        serving: ServingTLS,
        cert: Pathish,
        key: Pathish,
        password: str | None = None,
        *,
        installed: bool = True,
    ) -> None:
        """`installed`: `serving` was built from these files (else the first look installs
        whatever good pair it finds)."""
        self.serving = serving
        self.cert, self.key, self.password = os.fspath(cert), os.fspath(key), password
        self._seen: Signature | None = self.signature() if installed else None
        self._refused: Signature | None = None

    def signature(self) -> Signature:
        return (_stat(self.cert), _stat(self.key))

    def check(self) -> None:
        """Raise `CertificateError` if the files on disk would be refused (nothing changes)."""
        from ..tls import check_certificate

        check_certificate(self.cert, self.key, self.password)

    def reload(self) -> str:
        """Install the files as they are now; one line describing the certificate. On a
        `CertificateError` the old certificate keeps serving."""
        signature = self.signature()
        self.serving.load(self.cert, self.key, self.password)
        self._seen, self._refused = signature, None
        return certificate_summary(self.cert)

    async def watch(self, interval: float = 5.0) -> None:
        """Poll forever (cancel to stop)."""
        while True:
            await asyncio.sleep(interval)
            signature = self.signature()
            if signature in (self._seen, self._refused):
                continue
            try:
                summary = self.reload()
            except CertificateError as e:
                self._refused = signature
                log.warning(
                    "certificate files changed but were refused: %s; still serving the previous certificate",
                    e,
                )
                continue
            log.info("certificate files changed: installed %s", summary)
