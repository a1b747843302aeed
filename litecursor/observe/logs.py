"""The server log's two formats, text and JSON lines, with the request id on every line a request logs.

The middleware sets `REQUEST_ID` for the task that serves a request, so every line logged while
it runs (by the handler, the router, the listeners at its finish) carries it, whoever logs it.
JSON lines have stable fields (README "Logs"). Under systemd, each line starts with its syslog
priority (`<3>`), which journald reads and strips, so `journalctl -p err` finds the errors.
"""

from __future__ import annotations

import logging
import os
import time
from contextvars import ContextVar
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

#: the request being served by the current task (None outside a request)
REQUEST_ID: ContextVar[str | None] = ContextVar("litecursor_request_id", default=None)

#: the text format of every log line of `litecursor serve`; `AccessLog.write` writes the same
#: (a test holds the two together)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: syslog priorities of logging's levels, for journald's `<N>` line prefix
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


def priority(levelno: int) -> int:
    if levelno >= logging.CRITICAL:
        return 2
    return _PRIORITY.get(levelno - levelno % 10, 6)


def to_journald(stream: TextIO) -> bool:
    """Whether `stream` is connected to journald: systemd sets `JOURNAL_STREAM` to the device
    and inode of the stream it gave the service (sd_journal_stream_fd(3))."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


class WallClock:
    """Timestamps for lines, formatted once per second: JSON lines' ISO 8601 UTC
    (`2026-01-31T12:00:00.123Z`) and the text format's local `2026-01-31 12:00:00,123`."""

    __slots__ = ("_iso", "_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._iso = self._text = ""

    def _tick(self, second: int) -> None:
        self._second = second
        self._iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))

    def iso(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._tick(second)
        return f"{self._iso}.{int((now - second) * 1000):03d}Z"

    def text(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._tick(second)
        return f"{self._text},{int((now - second) * 1000):03d}"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request the current task serves (handlers' filters run
    where the line is logged, in the request's own context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT`, then ` request_id=<id>` on a line logged during a request."""

    def __init__(self, journald: bool = False) -> None:
        super().__init__(TEXT_FORMAT)
        self.journald = journald

    def formatMessage(self, record: logging.LogRecord) -> str:
        # the id ends the message's own line, before any traceback
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if self.journald:
            # journald takes a multi-line message as one entry per line: each gets the prefix
            p = f"<{priority(record.levelno)}>"
            line = p + line.replace("\n", "\n" + p)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time`, `level`, `logger`, `message`, then `request_id` when
    the line belongs to a request, `exception` with the traceback, and a record's `fields`
    (the access line's)."""

    def __init__(self, journald: bool = False) -> None:
        super().__init__()
        self.journald = journald
        self._clock = WallClock()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self._clock.iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            out["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        line = orjson.dumps(out, default=str).decode()
        return f"<{priority(record.levelno)}>{line}" if self.journald else line


def handler(stream: TextIO, fmt: LogFormat) -> logging.Handler:
    """A handler writing `fmt` lines to `stream` (with journald's prefixes when it is
    journald's stream), stamping the request id."""
    journald = to_journald(stream)
    h = logging.StreamHandler(stream)
    h.setFormatter(JsonFormatter(journald) if fmt == "json" else TextFormatter(journald))
    h.addFilter(RequestIdFilter())
    return h
