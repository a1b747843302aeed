"""What the pipeline's own listeners cost per request, in-process: the access line (text, JSON), the metrics, an export record.

No sockets and no event loop: each listener is handed the call and outcome of a streamed chat
request that answered, as the finish point hands them, and timed (best of seven passes). Run it
before and after a change to a listener: `.venv/bin/python benchmarks/listeners.py`.
"""

from __future__ import annotations

import logging
import sys
import timeit
from collections.abc import Callable

from litecursor.config import parse
from litecursor.observe.exports.record import request_record
from litecursor.observe.logs import WallClock
from litecursor.observe.metrics import Metrics
from litecursor.pipeline import MASTER, Call, Outcome, Pipeline
from litecursor.protocol.types import Usage
from litecursor.server.access import AccessLog

#: `--quick`: a few rounds, to check that it runs
ROUNDS = 20 if "--quick" in sys.argv else 20_000


class Discard:
    """A stream that keeps nothing: what is timed is the listener, not the terminal."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def answered() -> tuple[Call, Outcome]:
    config = parse(
        {
            "model_list": [{"model_name": "gpt-bench", "litellm_params": {"model": "mock/x"}}],
            "general_settings": {"master_key": "k"},
        },
        environ={},
    )
    call = Call(Pipeline(), "0123456789abcdef" * 2, "POST", "/cursor/chat/completions")
    call.client, call.user_agent, call.identity = "203.0.113.7", "Cursor/1.0", MASTER
    call.requested_model = call.model_group = "gpt-bench"
    call.stream, call.deployment = True, config.deployments[0]
    call.usage = Usage(prompt_tokens=1200, completion_tokens=300, cached_tokens=1000)
    call.finish_reason, call.cost = "stop", 0.0042
    call.first_byte()
    return call, call.outcome(200, None, False)


def per_request(fn: Callable[[], object]) -> float:
    return min(timeit.repeat(fn, number=ROUNDS, repeat=7)) / ROUNDS * 1e6


def main() -> None:
    logging.getLogger("litecursor.access").setLevel(logging.INFO)
    call, outcome = answered()
    metrics = Metrics(frozenset({call.route}))
    text, json = AccessLog(Discard(), "text"), AccessLog(Discard(), "json")
    clock = WallClock()
    rows = {
        "access line, text": lambda: text.finish(call, outcome),
        "access line, JSON": lambda: json.finish(call, outcome),
        "metrics (finish)": lambda: metrics.finish(call, outcome),
        "export record (when exporting)": lambda: request_record(call, outcome, str, clock),
    }
    for name, fn in rows.items():
        print(f"{name:<34} {per_request(fn):6.2f} µs per request")


if __name__ == "__main__":
    main()
