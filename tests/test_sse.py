"""The SSE decoder: WHATWG framing, any split point, any line ending."""

from __future__ import annotations

import pytest

from litecursor.protocol.sse import SSEDecoder, SSEEvent, encode_event


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
