"""Feeding recorded upstream bodies to decoders: whole, split at every byte, one byte at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litecursor.protocol.providers.base import StreamDecoder
from litecursor.protocol.types import (
    Event,
    Finish,
    ReasoningDelta,
    ReasoningItem,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


def decode(make: Callable[[], StreamDecoder], pieces: list[bytes]) -> list[Event]:
    dec = make()
    events: list[Event] = []
    for piece in pieces:
        events.extend(dec.feed(piece))
    events.extend(dec.close())
    return events


def normalise(events: list[Event]) -> list[Event]:
    """Adjacent text/reasoning/argument fragments joined: how a body is split may change
    fragment boundaries, never the content."""
    out: list[Event] = []
    for ev in events:
        prev = out[-1] if out else None
        if isinstance(ev, TextDelta) and isinstance(prev, TextDelta):
            out[-1] = TextDelta(prev.text + ev.text)
        elif isinstance(ev, ReasoningDelta) and isinstance(prev, ReasoningDelta):
            out[-1] = ReasoningDelta(prev.text + ev.text)
        elif (
            isinstance(ev, ToolCallDelta) and isinstance(prev, ToolCallDelta) and prev.key == ev.key
        ):
            out[-1] = ToolCallDelta(ev.key, prev.arguments + ev.arguments)
        else:
            out.append(ev)
    return out


FULL_SPLIT_LIMIT = 32 * 1024


def split_points(body: bytes) -> range | list[int]:
    """Every offset for bodies up to 32 KiB. Beyond that (one 100 KB file) the quadratic cost
    is not worth it: every offset within 8 bytes of a line end, where framing state lives,
    plus every 61st offset; the byte-by-byte feed still crosses every offset."""
    if len(body) <= FULL_SPLIT_LIMIT:
        return range(1, len(body))
    points = set(range(1, len(body), 61))
    start = 0
    while (nl := body.find(b"\n", start)) != -1:
        points.update(range(max(1, nl - 8), min(len(body), nl + 9)))
        start = nl + 1
    return sorted(points)


def assert_split_invariant(make: Callable[[], StreamDecoder], body: bytes) -> list[Event]:
    """The events of `body` fed whole; asserts two-piece splits (see `split_points`) and the
    byte-by-byte feed give the same (normalised) events."""
    whole = normalise(decode(make, [body]))
    for i in split_points(body):
        got = normalise(decode(make, [body[:i], body[i:]]))
        assert got == whole, f"split at byte {i} of {len(body)} changed the events"
    one = normalise(decode(make, [body[i : i + 1] for i in range(len(body))]))
    assert one == whole, "byte-by-byte feeding changed the events"
    return whole


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def calls(events: list[Event]) -> list[tuple[str, str, str]]:
    """(id, name, joined arguments) per call, in start order."""
    order: list[int | str] = []
    info: dict[int | str, list[str]] = {}
    for e in events:
        if isinstance(e, ToolCallStart):
            order.append(e.key)
            info[e.key] = [e.id, e.name, ""]
        elif isinstance(e, ToolCallDelta):
            info[e.key][2] += e.arguments
    return [(info[k][0], info[k][1], info[k][2]) for k in order]


def finishes(events: list[Event]) -> list[str]:
    return [e.reason for e in events if isinstance(e, Finish)]


def usages(events: list[Event]) -> list[Usage]:
    return [e for e in events if isinstance(e, Usage)]


def errors(events: list[Event]) -> list[StreamError]:
    return [e for e in events if isinstance(e, StreamError)]


@dataclass(frozen=True)
class Summary:
    """What a decoded stream said, for assertions: joined text and calls, the one finish."""

    text: str
    reasoning: str
    calls: tuple[tuple[str, str, str], ...]
    finish: str | None
    usage: Usage | None
    items: tuple[dict[str, Any], ...]
    errors: tuple[StreamError, ...]


def summarise(events: list[Event]) -> Summary:
    """Asserts the stream's invariants (each call started once, at most one Finish and one
    Usage) and sums it up."""
    started: dict[int | str, list[str]] = {}
    for e in events:
        if isinstance(e, ToolCallStart):
            assert e.key not in started, "a tool call key was started twice"
            started[e.key] = [e.id, e.name, ""]
        elif isinstance(e, ToolCallDelta):
            started[e.key][2] += e.arguments
    found_finishes = finishes(events)
    found_usages = usages(events)
    assert len(found_finishes) <= 1, "more than one Finish"
    assert len(found_usages) <= 1, "more than one Usage"
    return Summary(
        text=text(events),
        reasoning=reasoning(events),
        calls=tuple((i, n, a) for i, n, a in started.values()),
        finish=found_finishes[0] if found_finishes else None,
        usage=found_usages[0] if found_usages else None,
        items=tuple(e.data for e in events if isinstance(e, ReasoningItem)),
        errors=tuple(errors(events)),
    )
