"""Automatic certificates: keep the serving port's certificate obtained, stored, renewed and installed, like Caddy.

At start the stored certificate is served if it is still good for the names; otherwise a
self-signed placeholder holds the port while the first order runs, so the port (and the
TLS-ALPN-01 challenge on it) is up at once. Then one task loops: order when there is no
certificate or its renewal is due (a third of its lifetime left, or earlier if the CA's ARI
says so), back off after a failure, sleep until the next due moment otherwise. A certificate
it holds that is not yet due is never ordered again, restart or not. The blocking ACME calls
run in a worker thread, one order at a time per state directory (a file lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..tls import CertificateError
from .acme_order import AcmeError, AcmeOrders
from .acme_settings import AcmeSettings
from .challenges import ChallengeBoard
from .renewal import BACKOFF_SECONDS, backoff, renewal_due
from .sd_notify import Notifier
from .serving_tls import ServingTLS
from .state import exclusive_lock
from .store import AcmeStore, HeldCertificate

log = logging.getLogger("litecursor.acme")

__all__ = ["CertificateManager", "placeholder_certificate"]

#: the longest the loop sleeps without looking again (a suspended VM, a changed clock)
MAX_SLEEP = 3600.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def placeholder_certificate(domains: tuple[str, ...]) -> tuple[bytes, bytes]:
    """A self-signed certificate for the names, served until the first real one arrives
    (clients refuse it, and say so, instead of finding the port closed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _utcnow()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, domains[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "litecursor placeholder"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class CertificateManager:
    """Owns the certificate for `settings.domains` in `state_dir` and installs it in `serving`
    (None: a supervisor whose workers serve, told by `on_installed`)."""

    def __init__(
        self,
        settings: AcmeSettings,
        state_dir: Path,
        board: ChallengeBoard,
        serving: ServingTLS | None,
        *,
        notifier: Notifier | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        backoff_schedule: tuple[float, ...] = BACKOFF_SECONDS,
        on_installed: Callable[[HeldCertificate], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = AcmeStore(state_dir, settings.directory, settings.domains)
        self.orders = AcmeOrders(settings, self.store, board)
        self.serving = serving
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.backoff_schedule = backoff_schedule
        self.on_installed = on_installed
        self.held: HeldCertificate | None = None
        #: consecutive failed orders; the next wait grows with it
        self.failures = 0
        self._suggested: dt.datetime | None = None  # the CA's ARI suggestion for `held`
        self._ask_ari_at: dt.datetime | None = None
        self._wake = asyncio.Event()

    @property
    def names(self) -> str:
        return ", ".join(self.settings.domains)

    # --- start ---------------------------------------------------------------------------------

    def load_stored(self) -> HeldCertificate | None:
        """Install the stored certificate if it is still good for the names (call before
        serving); None when an order is needed first."""
        self.store.prepare()
        held, why = self.store.held_or_none(now=self.clock())
        if held is None:
            if why:
                log.warning("acme: the stored certificate cannot be used: %s", why)
            return None
        if not held.covers(self.settings.domains):
            log.info(
                "acme: the stored certificate is for %s, not %s: ordering a new one",
                ", ".join(sorted(held.names)), self.names,
            )  # fmt: skip
            return None
        self._install(held, "using the stored certificate")
        return held

    # --- the loop ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look again now (a reload, a test moving the clock)."""
        self._wake.set()

    async def run(self) -> None:
        """Forever: obtain, renew, back off, sleep. Cancel to stop."""
        while True:
            held = self.held
            if held is None or self.clock() >= self._due(held):
                if await self._obtain():
                    self.failures = 0
                    continue
                self.failures += 1
                wait = backoff(self.failures, self.backoff_schedule)
                log.warning(
                    "acme: %s: attempt %d failed; next try in %s",
                    self.names, self.failures, _duration(wait),
                )  # fmt: skip
                await self._sleep(wait)
                continue
            await self._ask_ari(held)
            now = self.clock()
            due = self._due(held)
            if now >= due:
                continue
            wake_at = min(due, self._ask_ari_at or due)
            await self._sleep(min(max((wake_at - now).total_seconds(), 0.0), MAX_SLEEP))

    def _due(self, held: HeldCertificate) -> dt.datetime:
        return renewal_due(held.not_before, held.not_after, self._suggested)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _ask_ari(self, held: HeldCertificate) -> None:
        now = self.clock()
        if self._ask_ari_at is not None and now < self._ask_ari_at:
            return
        try:
            suggested, ask_again = await asyncio.to_thread(
                self.orders.renewal_window, held.fullchain_pem
            )
        except (AcmeError, OSError) as e:
            log.warning("acme: cannot ask the CA about renewal: %s", e)
            suggested, ask_again = None, now + dt.timedelta(hours=6)
        if suggested is not None and suggested != self._suggested:
            log.info(
                "acme: the CA suggests renewing %s at %s (renewal information)",
                self.names, f"{suggested:%Y-%m-%d %H:%M} UTC",
            )  # fmt: skip
        self._suggested, self._ask_ari_at = suggested, ask_again

    async def _obtain(self) -> bool:
        renewing = self.held is not None
        self.notifier.status(
            f"{'renewing' if renewing else 'obtaining'} a certificate for {self.names}"
        )
        try:
            held, ordered = await asyncio.to_thread(self._obtain_blocking)
        except (AcmeError, CertificateError, OSError) as e:
            log.error("acme: %s: %s", self.names, e)
            self.notifier.status(f"certificate for {self.names}: {e}")
            return False
        except Exception as e:  # the library raises a few of its own kinds besides
            log.error("acme: %s: unexpected failure: %r", self.names, e)
            return False
        self._suggested = self._ask_ari_at = None
        if not ordered:
            what = "installed the certificate another process stored"
        elif renewing:
            what = "installed the renewed certificate"
        else:
            what = "installed the new certificate"
        self._install(held, what)
        return True

    def _obtain_blocking(self) -> tuple[HeldCertificate, bool]:
        with exclusive_lock(self.store.lock):
            # another process sharing the state directory may have renewed while we waited
            held, _ = self.store.held_or_none(now=self.clock())
            if (
                held is not None
                and held.covers(self.settings.domains)
                and (self.held is None or held.serial != self.held.serial)
                and self.clock() < renewal_due(held.not_before, held.not_after)
            ):
                log.info(
                    "acme: %s: another process stored a fresh certificate; using it", self.names
                )
                return held, False
            issued = self.orders.order()
            return self.store.save(issued.fullchain_pem, issued.key_pem), True

    def _install(self, held: HeldCertificate, what: str) -> None:
        if self.serving is not None:
            self.serving.load(self.store.cert, self.store.key)
        self.held = held
        issuer = held.leaf.issuer.rfc4514_string()
        due = self._due(held)
        log.info(
            "acme: %s %s (serial %s, issuer %s), valid until %s, renewal due %s",
            what, self.names, held.serial, issuer,
            f"{held.not_after:%Y-%m-%d %H:%M} UTC", f"{due:%Y-%m-%d %H:%M} UTC",
        )  # fmt: skip
        self.notifier.status(
            f"serving a certificate for {self.names}, valid until {held.not_after:%Y-%m-%d}"
        )
        if self.on_installed is not None:
            self.on_installed(held)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"
