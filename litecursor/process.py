"""Process-wide settings `litecursor serve` makes once at start, named and explained in one place.

Each changes something global to the Python process (a module attribute of the standard
library, a resource limit), which is why none of it happens on import or inside the gateway:
embedded in another program or in tests, litecursor leaves the process as it found it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TextIO

from .observe.logs import LogFormat, handler


def setup_logging(level: str, fmt: LogFormat, stream: TextIO) -> None:
    """One handler on the root logger: every line to `stream` in `fmt` (text or JSON lines),
    with the id of the request it belongs to (observe.logs)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler(stream, fmt))
    root.setLevel(level.upper())


def tune_logging() -> None:
    """Skip what no log line of `litecursor serve` shows: the stack walk for the caller's file
    and line is the costly one, on the access line of every request (the logging HOWTO's
    "Optimization" section)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def small_tls_read_buffers() -> None:
    """asyncio's TLS transport gives each connection a zero-filled 256 KiB read buffer
    (`SSLProtocol.max_size`): 280 KB of memory per open stream, where uvloop's costs 29 KB.
    A TLS record holds at most 16 KiB, so a 16 KiB buffer reads as much per call as matters
    (42 KB per connection, measured in `make bench`). Only for asyncio's own loop."""
    from asyncio import sslproto

    sslproto.SSLProtocol.max_size = 16 * 1024


def raise_open_file_limit() -> None:
    """Each open stream holds two sockets (client and upstream); the usual soft limit of
    1024 would cap the gateway near 500 streams, so take the hard limit, as Go servers do."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tune(*, uvloop: bool) -> None:
    """Everything above, for a `litecursor serve` process about to run its event loop."""
    tune_logging()
    if not uvloop:
        small_tls_read_buffers()
    raise_open_file_limit()
