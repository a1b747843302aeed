"""Incremental Server-Sent Events framing: bytes in, events out, correct at any split point."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DONE", "EventTooLarge", "SSEDecoder", "SSEEvent", "encode_event"]

#: the default limit on one event (its data and the line being read): far above any real
#: event (a whole Responses API answer, an inline image), far below what would hurt
MAX_EVENT_BYTES = 16 * 1024 * 1024
#: an unfinished line longer than this grows in a buffer (see `SSEDecoder.feed`)
_SHORT_LINE = 4096


class EventTooLarge(ValueError):
    """An event grew past the decoder's limit before it ended."""


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
    """The WHATWG event-stream parser, fed arbitrary byte slices, in time linear in the bytes.

    Lines end in LF, CRLF or CR (Gemini uses CRLF); a CR at the very end of a slice is held
    back until the next byte shows whether an LF follows. `data:` lines of one event are joined with LF; comment lines (`:`) and unknown
    fields are ignored. A short unfinished line is joined with the next slice; a long one grows
    in a buffer of its own until it ends, so the time taken is linear in the bytes fed however
    the stream is cut. An event larger than `max_event_bytes` raises
    `EventTooLarge`.
    """

    __slots__ = (
        "_data",
        "_event",
        "_id",
        "_more",
        "_pending",
        "_short",
        "_size",
        "max_event_bytes",
    )

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        # an unfinished line up to this long is simply joined with the next slice (events cut
        # in two by a read, the usual case); a longer one grows in a buffer
        self._short = min(_SHORT_LINE, max_event_bytes)
        #: the unfinished line: its bytes when short, else a buffer it grows in
        self._pending: bytes | bytearray | None = None
        self._data: bytes | None = None  # the first `data` line of the event being read
        self._more: list[bytes] | None = None  # its further `data` lines (rare)
        self._size = 0  # the bytes in `_more`
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        pending = self._pending
        if pending is not None:
            self._pending = None
            if type(pending) is bytes:  # a short unfinished line: read on with this slice
                chunk = pending + chunk
            else:  # a long line: the slice is added to it (amortised: no copy of the rest)
                ended = pending[-1] == 0x0D  # a CR held back is a line end
                pending += chunk
                if not ended and b"\n" not in chunk and b"\r" not in chunk:  # it goes on
                    self._pending = pending
                    self._check_size(len(pending))
                    return []
                chunk = bytes(pending)
        if not chunk:
            return []
        hold = False
        if b"\r" in chunk:  # LF-only streams, nearly all, skip the rewriting
            if chunk[-1] == 0x0D:  # CR or the first half of CRLF: the next byte tells
                chunk = chunk[:-1]
                hold = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if hold:
            rest += b"\r"
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
        if rest:
            if len(rest) <= self._short and self._data is None:
                self._pending = rest
            else:  # from here on grown in place, so its bytes are not copied at each slice
                self._pending = bytearray(rest)
                self._check_size(len(rest))
        return events

    def _check_size(self, line: int) -> None:
        if line + len(self._data or b"") + self._size > self.max_event_bytes:
            self._too_large()

    def _too_large(self) -> None:
        limit = self.max_event_bytes
        raise EventTooLarge(f"an event is larger than the {limit // 1024} KiB limit")

    def close(self) -> list[SSEEvent]:
        """End of stream: an event whose lines were all complete is dispatched even without
        the final blank line; a line cut off mid-way is dropped."""
        self._pending = None
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
            return
        if self._more is None:
            self._more = [value]
        else:
            self._more.append(value)
        self._size += len(value) + 1
        if len(self._data) + self._size > self.max_event_bytes:
            self._too_large()

    def _dispatch(self) -> SSEEvent:
        data = self._data or b""
        if self._more is not None:
            data = b"\n".join([data, *self._more])
            self._more = None
            self._size = 0
        ev = SSEEvent(data, self._event, self._id)
        self._data = None
        self._event = None
        return ev


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """Frame one event. `data` must not contain newlines (compact JSON never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
