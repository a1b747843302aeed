"""The protocol core's cost per upstream event, in-process: SSE framing, provider decoding, chunk encoding.

No sockets and no event loop: the sans-IO objects fed the fake upstream's own responses (20 text
events), the same way the gateway feeds them, one event per `feed`. Run it before and after a
change to the hot path: `.venv/bin/python benchmarks/micro.py`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_upstream import Shape, anthropic_stream, openai_stream

from litecursor.protocol.chat_out import ChunkEncoder
from litecursor.protocol.providers import get_provider
from litecursor.protocol.sse import SSEDecoder
from litecursor.protocol.types import ChatRequest, Message, TextDelta, TextPart

ROUNDS = 3000
REQUEST = ChatRequest(model="m", messages=(Message("user", (TextPart("hi"),)),), stream=True)


def _decoder(adapter: str):  # type: ignore[no-untyped-def]
    provider = get_provider(adapter)
    return lambda: provider.stream_decoder(REQUEST, None)  # type: ignore[arg-type]


def _encoder() -> ChunkEncoder:
    return ChunkEncoder(id="chatcmpl-0123456789abcdef01234567", created=1764000000, model="gpt-bench",
                        include_usage=True)  # fmt: skip


def best_of(fn: Callable[[], None], per_round: int) -> float:
    """Microseconds per item, the best of three passes."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / ROUNDS / per_round * 1e6


def main() -> None:
    streams = {"openai_chat": openai_stream(Shape(20, 24, 0), "gpt-4o-mini", True),
               "anthropic": anthropic_stream(Shape(20, 24, 0), "claude-sonnet-4-5")}  # fmt: skip
    rows: list[tuple[str, float]] = []
    for adapter, events in streams.items():
        make = _decoder(adapter)

        def sse(events: list[bytes] = events) -> None:
            for _ in range(ROUNDS):
                d = SSEDecoder()
                for e in events:
                    d.feed(e)

        def decode(events: list[bytes] = events, make=make) -> None:  # type: ignore[no-untyped-def]
            for _ in range(ROUNDS):
                d = make()
                for e in events:
                    d.feed(e)
                d.close()

        def both(events: list[bytes] = events, make=make) -> None:  # type: ignore[no-untyped-def]
            for _ in range(ROUNDS):
                d, enc = make(), _encoder()
                for e in events:
                    batch = d.feed(e)
                    if batch:
                        enc.feed(batch)
                enc.feed(d.close())
                enc.close()

        n = len(events)
        rows += [(f"{adapter}: SSE framing", best_of(sse, n)),
                 (f"{adapter}: decode (SSE + JSON + events)", best_of(decode, n)),
                 (f"{adapter}: decode + encode", best_of(both, n))]  # fmt: skip

    texts = [[TextDelta("lorem ipsum dolor sit amé")] for _ in range(20)]

    def encode() -> None:
        for _ in range(ROUNDS):
            enc = _encoder()
            for batch in texts:
                enc.feed(batch)
            enc.close()

    rows.append(("encode one text delta per batch", best_of(encode, len(texts))))
    print("| step | µs per upstream event |\n|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.2f} |")


if __name__ == "__main__":
    main()
