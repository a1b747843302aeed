"""The access line of each request, a finish listener: through the `litecursor.access` logger, or straight to a stream.

`litecursor serve` sets up logging itself (one stream, one format) and hands that stream here:
the line is then written in the same format as every other log line, without the `LogRecord`,
`Formatter` call and handler lock that `logging` spends on each one (measured under `make bench`
load: 30 µs of the gateway's CPU per request through `logging`, 12 µs written directly).
Embedded (tests, a program of its own) the gateway logs through `logging`. Either way the
logger's level decides: `--no-access-log` and `--log-level warning` turn the lines off.
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

from ..pipeline import Call, Outcome

log = logging.getLogger("litecursor.access")

#: routes with no access line: liveness probes would drown the log
QUIET_PATHS = frozenset({"/health"})

#: the format of every log line of `litecursor serve`; `AccessLog.write` writes the same
#: (a test holds the two together)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class AccessLog:
    __slots__ = ("_second", "_stamp", "_stream")

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._second = -1
        self._stamp = ""

    @staticmethod
    def enabled() -> bool:
        return log.isEnabledFor(logging.INFO)

    def finish(self, call: Call, outcome: Outcome) -> None:
        if call.method == "OPTIONS" or call.route in QUIET_PATHS or not self.enabled():
            return
        # the line is built here, once, with no arguments left to format later
        dep = outcome.deployment.id if outcome.deployment else "-"
        usage = outcome.usage
        tokens = f"{usage.prompt_tokens}/{usage.completion_tokens}" if usage else "-"
        first = outcome.first_byte_at
        ttfb = f"{(first - call.started) * 1000:.0f}" if first is not None else "-"
        ms = (outcome.ended_at - call.started) * 1000
        err = outcome.error
        error = f" error={err.message!r}" if err is not None else ""
        if outcome.client_gone:
            error += " client_gone"
        self.write(
            f"{call.request_id[:12]} {call.method} {call.route} {outcome.status} "
            f"model={call.requested_model or '-'} deployment={dep} tokens={tokens} "
            f"ttfb_ms={ttfb} ms={ms:.0f} conversation={call.conversation_id or '-'}{error}"
        )

    def write(self, line: str) -> None:
        stream = self._stream
        if stream is None:
            log.info(line)
            return
        # logging's default "%(asctime)s": local time to the second, then ",<milliseconds>"
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        ms = int((now - second) * 1000)
        try:
            stream.write(f"{self._stamp},{ms:03d} INFO {log.name}: {line}\n")
            stream.flush()
        except (OSError, ValueError):
            # a closed or broken stream: like `logging`, never fail a request over its log
            # line (and there is nowhere left to report it)
            pass
