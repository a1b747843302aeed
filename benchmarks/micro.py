"""The protocol core's cost, in-process: per upstream event (SSE framing, provider decoding, chunk encoding) and per request (parsing each client dialect, building each upstream's body).

No sockets and no event loop: the sans-IO objects fed the fake upstream's own responses (20 text
events), the same way the gateway feeds them, one event per `feed`; and the Cursor bodies of
`tests/data/cursor/requests/`, parsed and built for every upstream API. Run it before and after a
change to the hot path: `.venv/bin/python benchmarks/micro.py`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from fake_upstream import Shape, anthropic_stream, openai_stream

from litecursor.protocol.chat_out import ChunkEncoder
from litecursor.protocol.inbound import parse_request
from litecursor.protocol.providers import Target, get_provider
from litecursor.protocol.sse import SSEDecoder
from litecursor.protocol.types import ChatRequest, Message, TextDelta, TextPart

ROUNDS = 3000
REQUEST_ROUNDS = 300
CURSOR_BODIES = Path(__file__).resolve().parent.parent / "tests" / "data" / "cursor" / "requests"
#: (adapter, upstream model) built from each parsed body
BUILDS = (("openai_chat", "gpt-5.1"), ("openai_responses", "gpt-5.1"),
          ("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-3-pro-preview"))  # fmt: skip
REQUEST = ChatRequest(model="m", messages=(Message("user", (TextPart("hi"),)),), stream=True)


def _decoder(adapter: str):
    provider = get_provider(adapter)
    return lambda: provider.stream_decoder(REQUEST, None)


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

        # events cut across reads, as TLS records and socket reads cut them
        thirds = [e[i * len(e) // 3 : (i + 1) * len(e) // 3] for e in events for i in range(3)]

        def sse_cut(thirds: list[bytes] = thirds) -> None:
            for _ in range(ROUNDS):
                d = SSEDecoder()
                for piece in thirds:
                    d.feed(piece)

        def decode(events: list[bytes] = events, make=make) -> None:
            for _ in range(ROUNDS):
                d = make()
                for e in events:
                    d.feed(e)
                d.close()

        def both(events: list[bytes] = events, make=make) -> None:
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
                 (f"{adapter}: SSE framing, each event in 3 reads", best_of(sse_cut, n)),
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
    print()
    requests()


def requests() -> None:
    """Parse each Cursor body (JSON already decoded, as the handler has it) and build every
    upstream's body from it (to bytes, as sent)."""
    print("| Cursor body | parse µs | " + " | ".join(f"{a} build µs" for a, _ in BUILDS) + " |")
    print("|---|---|" + "---|" * len(BUILDS))
    for path in sorted(CURSOR_BODIES.glob("*.json")):
        body = orjson.loads(path.read_bytes())
        req = parse_request(body)

        def parse(body: object = body) -> None:
            for _ in range(REQUEST_ROUNDS):
                parse_request(body)

        cells = [_per_request(parse)]
        for adapter, model in BUILDS:
            provider = get_provider(adapter)
            target = Target(adapter.split("_")[0], model, "https://upstream.invalid/v1", "sk-x")

            def build(provider=provider, target=target, req=req) -> None:
                for _ in range(REQUEST_ROUNDS):
                    provider.build_request(req, target)

            cells.append(_per_request(build))
        print(f"| {path.stem} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")


def _per_request(fn: Callable[[], None]) -> float:
    return best_of(fn, 1) * ROUNDS / REQUEST_ROUNDS


if __name__ == "__main__":
    main()
