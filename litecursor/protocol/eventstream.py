"""AWS event-stream framing (`application/vnd.amazon.eventstream`), decoded sans-IO.

Each message is a 12-byte prelude (total length, headers length, CRC32 of the first 8 bytes),
typed headers, a payload and a CRC32 of everything before it. Bedrock's ConverseStream sends
one message per event, with `:message-type` (event / exception / error), `:event-type` or
`:exception-type` and `:content-type` headers and a JSON payload.

`EventStreamDecoder` is fed any slice of the body and hands back whole `EventStreamMessage`s.
A frame that cannot be trusted (a CRC mismatch, impossible lengths, an unknown header type)
becomes one `EventStreamProtocolError` and the decoder stops: after a broken frame nothing
says where the next one starts, and reading on would make events out of garbage.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "EventStreamDecoder",
    "EventStreamMessage",
    "EventStreamProtocolError",
    "HeaderValue",
]

PRELUDE = 12  # total length, headers length, prelude CRC
TRAILER = 4  # message CRC
#: the service's limits: a message of up to 16 MiB, headers of up to 128 KiB
MAX_MESSAGE = 16 * 1024 * 1024
MAX_HEADERS = 128 * 1024

HeaderValue = bool | int | bytes | str | uuid.UUID

_PRELUDE = struct.Struct(">III")
_FIXED = {2: (1, ">b"), 3: (2, ">h"), 4: (4, ">i"), 5: (8, ">q"), 8: (8, ">q")}


@dataclass(frozen=True, slots=True)
class EventStreamMessage:
    headers: Mapping[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str | None:
        """A string header, or None when absent or of another type."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class EventStreamProtocolError:
    """The bytes do not frame as event-stream messages; the decoder has stopped."""

    message: str


class _Bad(Exception):
    pass


def _headers(data: bytes | memoryview) -> dict[str, HeaderValue]:
    out: dict[str, HeaderValue] = {}
    i, end = 0, len(data)
    while i < end:
        n = data[i]
        i += 1
        if n == 0 or i + n + 1 > end:
            raise _Bad("a header name runs past the headers")
        name = bytes(data[i : i + n]).decode("utf-8", "replace")
        i += n
        kind = data[i]
        i += 1
        value: HeaderValue
        if kind in (0, 1):
            value = kind == 0
        elif kind in _FIXED:
            size, fmt = _FIXED[kind]
            if i + size > end:
                raise _Bad(f"header {name!r} runs past the headers")
            value = struct.unpack_from(fmt, data, i)[0]
            i += size
        elif kind in (6, 7):
            if i + 2 > end:
                raise _Bad(f"header {name!r} runs past the headers")
            size = int.from_bytes(data[i : i + 2], "big")
            i += 2
            if i + size > end:
                raise _Bad(f"header {name!r} runs past the headers")
            raw = bytes(data[i : i + size])
            i += size
            value = raw if kind == 6 else raw.decode("utf-8", "replace")
        elif kind == 9:
            if i + 16 > end:
                raise _Bad(f"header {name!r} runs past the headers")
            value = uuid.UUID(bytes=bytes(data[i : i + 16]))
            i += 16
        else:
            raise _Bad(f"header {name!r} has an unknown value type {kind}")
        out[name] = value
    return out


class EventStreamDecoder:
    """Bytes in, whole messages out; see the module docstring for what a bad frame does."""

    __slots__ = ("_buf", "_failed")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._failed = False

    @property
    def failed(self) -> bool:
        return self._failed

    def feed(self, data: bytes) -> list[EventStreamMessage | EventStreamProtocolError]:
        if self._failed:
            return []
        buf = self._buf
        buf += data
        out: list[EventStreamMessage | EventStreamProtocolError] = []
        start = 0
        size = len(buf)
        while size - start >= PRELUDE:
            total, header_len, prelude_crc = _PRELUDE.unpack_from(buf, start)
            if zlib.crc32(memoryview(buf)[start : start + 8]) != prelude_crc:
                out.append(self._fail("the prelude CRC does not match"))
                return out
            if total > MAX_MESSAGE or header_len > MAX_HEADERS:
                out.append(self._fail(f"a message of {total} bytes is over the limits"))
                return out
            if total < PRELUDE + header_len + TRAILER:
                out.append(self._fail(f"a message length of {total} cannot hold its headers"))
                return out
            if size - start < total:
                break
            view = memoryview(buf)[start : start + total]
            crc = int.from_bytes(view[total - TRAILER :], "big")
            if zlib.crc32(view[: total - TRAILER]) != crc:
                view.release()
                out.append(self._fail("the message CRC does not match"))
                return out
            try:
                headers = _headers(view[PRELUDE : PRELUDE + header_len])
            except _Bad as e:
                view.release()
                out.append(self._fail(str(e)))
                return out
            payload = bytes(view[PRELUDE + header_len : total - TRAILER])
            view.release()
            out.append(EventStreamMessage(headers, payload))
            start += total
        if start:
            del buf[:start]
        return out

    def close(self) -> list[EventStreamMessage | EventStreamProtocolError]:
        """The end of the body: bytes left over are a message cut short."""
        if self._failed or not self._buf:
            return []
        left = len(self._buf)
        return [self._fail(f"the stream ended inside a message ({left} bytes left over)")]

    def _fail(self, why: str) -> EventStreamProtocolError:
        self._failed = True
        self._buf.clear()
        return EventStreamProtocolError(f"the upstream event stream is malformed: {why}")
