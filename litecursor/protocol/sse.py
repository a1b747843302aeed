"""Incremental Server-Sent Events framing: bytes in, events out, correct at any split point."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DONE", "SSEDecoder", "SSEEvent", "encode_event"]


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event. `data` stays bytes: the JSON codec reads bytes directly.
    Not frozen, unlike the protocol's other records: one is made per upstream event, and a
    frozen dataclass's `__init__` costs three times as much (it sets each field through
    `object.__setattr__`). Nothing keeps it past the decoder that reads it."""

    data: bytes
    event: str | None = None
    id: str | None = None


DONE = b"data: [DONE]\n\n"


class SSEDecoder:
    """The WHATWG event-stream parser, fed arbitrary byte slices.

    Lines end in LF, CRLF or CR (Gemini uses CRLF); a CR at the very end of a slice is held
    back until the next byte shows whether an LF follows. `data:` lines of one event are
    joined with LF; comment lines (`:`) and unknown fields are ignored.
    """

    __slots__ = ("_buf", "_data", "_event", "_id", "_more")

    def __init__(self) -> None:
        self._buf = b""
        self._data: bytes | None = None  # the first `data` line of the event being read
        self._more: list[bytes] | None = None  # its further `data` lines (rare)
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        if not buf:
            return []
        hold = b""
        if b"\r" in buf:  # LF-only streams, nearly all, skip the rewriting
            if buf.endswith(b"\r"):
                buf, hold = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        rest = lines.pop()
        self._buf = rest + hold if hold else rest
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data is not None:
                    events.append(self._dispatch())
                else:
                    self._event = None
            elif line.startswith(b"data:"):  # the line nearly every event is made of: inline
                value = line[6:] if line[5:6] == b" " else line[5:]
                if self._data is None:
                    self._data = value
                else:
                    self._add_data(value)
            elif line.startswith(b"event:"):  # Anthropic names every event
                value = line[7:] if line[6:7] == b" " else line[6:]
                self._event = value.decode("utf-8", "replace")
            else:
                self._field(line)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: an event whose lines were all complete is dispatched even without
        the final blank line; a line cut off mid-way is dropped."""
        self._buf = b""
        if self._data is not None:
            return [self._dispatch()]
        return []

    def _field(self, line: bytes) -> None:
        if line[0] == 0x3A:  # ':' comment / keep-alive
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            self._id = value.decode("utf-8", "replace")
        elif name == b"data":  # a bare `data` line (no colon): an empty data line
            self._add_data(value)
        # "retry" and unknown fields carry nothing a proxy needs

    def _add_data(self, value: bytes) -> None:
        if self._data is None:
            self._data = value
        elif self._more is None:
            self._more = [value]
        else:
            self._more.append(value)

    def _dispatch(self) -> SSEEvent:
        data = self._data or b""
        if self._more is not None:
            data = b"\n".join([data, *self._more])
            self._more = None
        ev = SSEEvent(data, self._event, self._id)
        self._data = None
        self._event = None
        return ev


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """Frame one event. `data` must not contain newlines (compact JSON never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
