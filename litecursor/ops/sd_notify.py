"""The systemd notification protocol (sd_notify), spoken directly: READY, RELOADING, STOPPING, STATUS, WATCHDOG.

systemd hands a service the address of a datagram socket in `NOTIFY_SOCKET` (a path, or an
abstract name written with a leading `@`); each notification is one datagram of `KEY=VALUE`
lines. That is the whole protocol, so no library is needed for it. Outside systemd (no
`NOTIFY_SOCKET`) every call is a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger("litecursor.sd_notify")

__all__ = ["Notifier"]


def _address(value: str) -> str | bytes | None:
    if value.startswith("/"):
        return value
    if value.startswith("@"):  # Linux abstract namespace: the name starts with a NUL byte
        return b"\0" + value[1:].encode()
    return None


def _monotonic_usec() -> int:
    # systemd compares MONOTONIC_USEC with its own CLOCK_MONOTONIC reading
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Notifier:
    """Sends notifications to the socket systemd (or a supervising parent) gave us."""

    __slots__ = ("_address", "_socket", "watchdog_interval")

    def __init__(
        self, address: str | bytes | None = None, *, watchdog_usec: int | None = None
    ) -> None:
        self._address = address
        self._socket: socket.socket | None = None
        #: how often to send WATCHDOG=1 (half the timeout systemd set, as sd_watchdog_enabled
        #: advises), or None when the watchdog is off
        self.watchdog_interval = watchdog_usec / 2e6 if watchdog_usec else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """The notifier systemd set up for this process; a silent one outside systemd."""
        raw = environ.get("NOTIFY_SOCKET", "")
        address = _address(raw) if raw else None
        if raw and address is None:
            log.warning("NOTIFY_SOCKET=%r is not a unix socket address; not notifying", raw)
        watchdog: int | None = None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process the watchdog is meant for: a child that inherited
        # the variables is not it
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog = int(usec)
        return cls(address, watchdog_usec=watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *lines: str) -> bool:
        """One datagram of `KEY=VALUE` lines; False if there is no socket or it failed."""
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                # a full receive queue must never stall the event loop: drop the message
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), self._address)
        except OSError as e:
            log.debug("sd_notify %s failed: %s", lines[0] if lines else "", e)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Started, or done reloading."""
        return self.send("READY=1", *_status(status))

    def reloading(self, status: str | None = None) -> bool:
        """A reload began; `ready()` ends it. MONOTONIC_USEC is what systemd's
        Type=notify-reload needs to match this message with the reload it asked for."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={_monotonic_usec()}", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        """Free text shown by `systemctl status`."""
        return self.send(*_status(text))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None


def _status(text: str | None) -> tuple[str, ...]:
    # one line per field: a newline inside would start a field of its own
    return () if text is None else ("STATUS=" + " ".join(text.split()),)
