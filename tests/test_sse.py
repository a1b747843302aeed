"""The SSE decoder: WHATWG framing, any split point, any line ending."""

from __future__ import annotations

import time

import pytest

from litecursor.protocol.sse import EventTooLarge, SSEDecoder, SSEEvent, encode_event


def feed_all(pieces: list[bytes]) -> list[SSEEvent]:
    d = SSEDecoder()
    out: list[SSEEvent] = []
    for p in pieces:
        out.extend(d.feed(p))
    out.extend(d.close())
    return out


BODY = b'event: message_start\ndata: {"a": 1}\n\n: keep-alive\n\ndata: x\ndata: y\n\nid: 7\ndata: z\n\n'
EXPECTED = [
    SSEEvent(b'{"a": 1}', "message_start"),
    SSEEvent(b"x\ny"),
    SSEEvent(b"z", id="7"),
]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_gives_the_same_events(eol: bytes) -> None:
    body = BODY.replace(b"\n", eol)
    assert feed_all([body]) == EXPECTED


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_split_point_gives_the_same_events(eol: bytes) -> None:
    body = BODY.replace(b"\n", eol)
    for i in range(len(body) + 1):
        assert feed_all([body[:i], body[i:]]) == EXPECTED, i
    assert feed_all([body[i : i + 1] for i in range(len(body))]) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: a\r") == []
    assert d.feed(b"\n\r") == []
    assert d.feed(b"\n") == [SSEEvent(b"a")]


def test_a_long_line_cut_after_its_cr_ends_there() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: " + b"x" * 10_000 + b"\r") == []
    assert d.feed(b"\r") == []
    assert d.feed(b"data: next") == [SSEEvent(b"x" * 10_000)]


def test_field_without_space_and_unknown_fields() -> None:
    assert feed_all([b"data:tight\nretry: 10\nfoo: bar\n\n"]) == [SSEEvent(b"tight")]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert feed_all([b"\n\n: comment\n\nevent: ping\n\n"]) == []


def test_last_event_without_blank_line_is_dispatched_at_close() -> None:
    assert feed_all([b"data: last\n"]) == [SSEEvent(b"last")]


def test_line_cut_off_at_close_is_dropped() -> None:
    assert feed_all([b"data: compl"]) == []


def test_encode_event_round_trips() -> None:
    raw = encode_event(b'{"x":1}') + encode_event(b"{}", "ping")
    assert feed_all([raw]) == [SSEEvent(b'{"x":1}'), SSEEvent(b"{}", "ping")]


def test_a_line_over_many_slices_is_read_in_linear_time() -> None:
    """8 MB of one line in 1 KB slices: joined once at its end, not at every slice (which
    copies 32 GB and takes minutes)."""
    d = SSEDecoder()
    piece = b"x" * 1024
    t0 = time.perf_counter()
    assert d.feed(b"data: ") == []
    for _ in range(8 * 1024):
        assert d.feed(piece) == []
    events = d.feed(b"\n\n")
    assert time.perf_counter() - t0 < 1.0
    assert len(events) == 1 and len(events[0].data) == 8 * 1024 * 1024


@pytest.mark.parametrize(
    "pieces",
    [
        [b"data: " + b"x" * 2000],  # one line in one slice
        [b"data: "] + [b"x" * 100] * 20,  # one line over many slices
        [b"data: xxxxxxxxx\n" * 300],  # many data lines, no blank line
        [b"data: " + b"x" * 900 + b"\r", b"\ndata: " + b"y" * 200],  # across a CR LF
    ],
)
def test_an_event_over_the_limit_raises(pieces: list[bytes]) -> None:
    d = SSEDecoder(max_event_bytes=1024)
    with pytest.raises(EventTooLarge, match="1 KiB limit"):
        for p in pieces:
            d.feed(p)


def test_events_up_to_the_limit_pass_and_the_limit_is_per_event() -> None:
    d = SSEDecoder(max_event_bytes=1024)
    body = b"data: " + b"x" * 1000 + b"\n\n"
    events = []
    for _ in range(50):  # far more than the limit in all, each event within it
        for i in range(0, len(body), 7):
            events += d.feed(body[i : i + 7])
    assert len(events) == 50 and all(len(e.data) == 1000 for e in events)
