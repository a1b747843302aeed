"""The Chat Completions encoder's rules, event by event."""

from __future__ import annotations

import orjson
import pytest

from litecursor.errors import UpstreamError, UpstreamTimeoutError
from litecursor.protocol.chat_out import ChunkEncoder, CompletionBuilder
from litecursor.protocol.types import (
    Finish,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

from .harness import sse_payloads


def enc(**kw):
    return ChunkEncoder(
        id="chatcmpl-1",
        created=123,
        model="my-model",
        include_usage=kw.pop("include_usage", True),
        **kw,
    )


def run(e: ChunkEncoder, *batches: list) -> list:
    raw = b"".join(e.feed(b) for b in batches) + e.close()
    return sse_payloads(raw)


def deltas(payloads: list) -> list[dict]:
    return [p["choices"][0]["delta"] for p in payloads if isinstance(p, dict) and p.get("choices")]


def test_every_chunk_shares_id_created_model_and_the_first_has_the_role() -> None:
    out = run(enc(), [TextDelta("a")], [TextDelta("b")], [Finish("stop")])
    chunks = [p for p in out if isinstance(p, dict)]
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        ("chatcmpl-1", 123, "my-model", "chat.completion.chunk")
    }
    assert deltas(out)[0] == {"role": "assistant", "content": "a"}
    assert "role" not in deltas(out)[1]
    assert out[-1] == "[DONE]"


def test_text_of_one_batch_goes_out_as_one_chunk() -> None:
    out = run(enc(), [TextDelta("a"), TextDelta("b"), TextDelta("c")])
    assert deltas(out)[0]["content"] == "abc"


def test_tool_calls_are_numbered_from_zero_whatever_the_upstream_key() -> None:
    out = run(
        enc(),
        [
            ToolCallStart("toolu_x", "id1", "A"),
            ToolCallDelta("toolu_x", '{"a":'),
            ToolCallStart(7, "id2", "B"),
            ToolCallDelta("toolu_x", "1}"),
            ToolCallDelta(7, "{}"),
        ],
    )
    calls = [tc for d in deltas(out) for tc in d.get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "id1",
        "type": "function",
        "function": {"name": "A", "arguments": ""},
    }
    assert calls[1] == {"index": 0, "function": {"arguments": '{"a":'}}
    assert calls[2]["index"] == 1 and calls[2]["id"] == "id2"
    assert calls[3] == {"index": 0, "function": {"arguments": "1}"}}
    assert calls[4] == {"index": 1, "function": {"arguments": "{}"}}


def test_stop_after_tool_calls_becomes_tool_calls() -> None:
    out = run(enc(), [ToolCallStart(0, "c", "f"), Finish("stop")])
    assert [
        p["choices"][0]["finish_reason"]
        for p in out
        if isinstance(p, dict) and p["choices"] and p["choices"][0]["finish_reason"]
    ] == ["tool_calls"]


@pytest.mark.parametrize(
    "batches",
    [
        [[TextDelta("x"), Finish("length")], [Finish("stop")]],
        [[TextDelta("x")], [Finish("length"), Finish("stop")]],
    ],
)
def test_exactly_one_finish_reason(batches: list) -> None:
    out = run(enc(), *batches)
    finishes = [
        p["choices"][0]["finish_reason"]
        for p in out
        if isinstance(p, dict) and p["choices"] and p["choices"][0]["finish_reason"]
    ]
    assert finishes == ["length"]


def test_a_stream_without_finish_gets_one_at_close() -> None:
    out = run(enc(), [TextDelta("x")])
    assert deltas(out)[-1] == {} and out[-3]["choices"][0]["finish_reason"] == "stop"


def test_the_encoder_counts_what_the_upstream_produced_and_whether_it_finished() -> None:
    """What a cut stream is charged from: characters of text, reasoning and tool arguments
    (counted once per chunk written), and whether the upstream's own finish came."""
    e = enc()
    e.feed([ReasoningDelta("abc"), TextDelta("hello"), TextDelta(" you")])
    e.feed([ToolCallStart(0, "call_1", "f"), ToolCallDelta(0, '{"a":1}')])
    assert (e.chars, e.done) == (3 + 9 + 7, False)
    e.close()  # the client gets a finish reason; the upstream never sent one
    assert e.done is False and e.finish_reason == "tool_calls"
    e = enc()
    e.feed([TextDelta("hi"), Finish("stop")])
    assert (e.chars, e.done) == (2, True)
    b = CompletionBuilder(id="c", created=1, model="m")
    b.feed([TextDelta("hi"), ReasoningDelta("r"), Finish("stop")])
    assert (b.chars, b.done, b.finish_reason) == (3, True, "stop")


def test_usage_is_merged_and_sent_last_with_details() -> None:
    out = run(
        enc(),
        [Usage(prompt_tokens=10, cached_tokens=4)],
        [TextDelta("x")],
        [Finish("stop"), Usage(prompt_tokens=10, completion_tokens=5, reasoning_tokens=2)],
    )
    usage = out[-2]
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }


def test_no_usage_chunk_unless_wanted() -> None:
    out = run(enc(include_usage=False), [TextDelta("x"), Usage(1, 1), Finish("stop")])
    assert not any(isinstance(p, dict) and "usage" in p for p in out)


def test_reasoning_goes_to_reasoning_content_by_default() -> None:
    out = run(enc(), [ReasoningDelta("hmm"), TextDelta("answer")])
    assert deltas(out)[:2] == [
        {"role": "assistant", "reasoning_content": "hmm"},
        {"content": "answer"},
    ]


def test_think_tags_wrap_reasoning_in_content() -> None:
    out = run(
        enc(reasoning_display="think_tags"),
        [ReasoningDelta("hm")],
        [ReasoningDelta("m")],
        [TextDelta("answer")],
    )
    text = "".join(d.get("content", "") for d in deltas(out))
    assert text == "<think>\nhmm\n</think>\n\nanswer"
    assert not any("reasoning_content" in d for d in deltas(out))


def test_think_tags_are_closed_even_when_the_stream_ends_thinking() -> None:
    out = run(enc(reasoning_display="think_tags"), [ReasoningDelta("hmm")])
    assert "".join(d.get("content", "") for d in deltas(out)) == "<think>\nhmm\n</think>\n\n"


def test_hidden_reasoning_is_dropped() -> None:
    out = run(enc(reasoning_display="hidden"), [ReasoningDelta("secret"), TextDelta("a")])
    assert "secret" not in orjson.dumps(out).decode()


def test_stream_error_ends_the_stream_with_an_error_chunk_and_no_done() -> None:
    e = enc()
    raw = e.feed(
        [TextDelta("part"), StreamError(UpstreamError("overloaded", code="overloaded_error"))]
    )
    raw += e.feed([TextDelta("ignored")]) + e.close()
    out = sse_payloads(raw)
    assert out[-1]["error"] == {
        "message": "overloaded",
        "type": "upstream_error",
        "param": None,
        "code": "overloaded_error",
    }
    assert "[DONE]" not in out and e.error is not None and e.error.message == "overloaded"


def test_fail_writes_the_error_of_an_exception() -> None:
    e = enc()
    e.feed([TextDelta("x")])
    out = sse_payloads(e.fail(UpstreamTimeoutError("no data for 5s")))
    assert out[0]["error"]["type"] == "timeout_error" and e.close() == b""


def test_completion_builder_makes_one_chat_completion() -> None:
    b = CompletionBuilder(id="chatcmpl-1", created=1, model="m")
    b.feed(
        [
            ReasoningDelta("why"),
            TextDelta("hi "),
            TextDelta("there"),
            ToolCallStart("k", "c1", "f"),
            ToolCallDelta("k", "{}"),
            Finish("stop"),
            Usage(3, 4),
        ]
    )
    r = b.result()
    msg = r["choices"][0]["message"]
    assert msg == {
        "role": "assistant",
        "content": "hi there",
        "reasoning_content": "why",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    assert r["choices"][0]["finish_reason"] == "tool_calls" and r["usage"]["total_tokens"] == 7


def test_completion_builder_raises_a_stream_error() -> None:
    b = CompletionBuilder(id="x", created=1, model="m")
    with pytest.raises(UpstreamError):
        b.feed([StreamError(UpstreamError("boom"))])
