"""Incremental Server-Sent Events framing: bytes in, events out, correct at any split point."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DONE", "SSEDecoder", "SSEEvent", "encode_event"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. `data` stays bytes: the JSON codec reads bytes directly."""

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

    __slots__ = ("_buf", "_data", "_event", "_has_data", "_id")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None
        self._has_data = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        if not buf:
            return []
        hold = b""
        if buf.endswith(b"\r"):
            buf, hold = buf[:-1], b"\r"
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop() + hold
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._has_data:
                    events.append(self._dispatch())
                else:
                    self._event = None
                continue
            self._field(line)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: an event whose lines were all complete is dispatched even without
        the final blank line; a line cut off mid-way is dropped."""
        self._buf = b""
        if self._has_data:
            return [self._dispatch()]
        return []

    def _field(self, line: bytes) -> None:
        if line[0] == 0x3A:  # ':' comment / keep-alive
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._has_data = True
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            self._id = value.decode("utf-8", "replace")
        # "retry" and unknown fields carry nothing a proxy needs

    def _dispatch(self) -> SSEEvent:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        ev = SSEEvent(data=data, event=self._event, id=self._id)
        self._data = []
        self._event = None
        self._has_data = False
        return ev


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """Frame one event. `data` must not contain newlines (compact JSON never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
