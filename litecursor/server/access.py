"""The access line of each request, a finish listener: through the `litecursor.access` logger, or straight to a stream.

`litecursor serve` sets up logging itself (one stream, one format) and hands that stream here:
the line is then written in the same format as every other log line, without the `LogRecord`,
`Formatter` call and handler lock that `logging` spends on each one (measured under `make bench`
load: 30 µs of the gateway's CPU per request through `logging`, 12 µs written directly).
Embedded (tests, a program of its own) the gateway logs through `logging`. Either way the
logger's level decides: `--no-access-log` and `--log-level warning` turn the lines off.

In the JSON format (`--log-format json`) the line is one object with the fields the README
lists under "Logs"; they are a stable interface: add fields, never rename or drop one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TextIO

import orjson

from ..observe.logs import TEXT_FORMAT, LogFormat, WallClock, priority
from ..pipeline import Call, Outcome

log = logging.getLogger("litecursor.access")

#: routes with no access line: liveness probes and scrapes would drown the log
QUIET_PATHS = frozenset({"/health", "/metrics"})

#: the text format of every log line of `litecursor serve` (kept under this name for callers)
LOG_FORMAT = TEXT_FORMAT

_INFO = priority(logging.INFO)


def _same(text: str) -> str:
    return text


#: characters that end or rewrite a line in a log file or a terminal, as escapes
_CONTROL = str.maketrans(
    {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
    | {0x2028: "\\u2028", 0x2029: "\\u2029"}
)


def printable(text: str) -> str:
    """`text` with control characters escaped: what a client sent (a decoded path, a model
    name) must not start a forged line in the log."""
    return text if text.isprintable() else text.translate(_CONTROL)


class AccessLog:
    __slots__ = ("_clock", "_json", "_prefix", "_redact", "_stream")

    def __init__(
        self,
        stream: TextIO | None = None,
        fmt: LogFormat = "text",
        journald: bool = False,
        redact: Callable[[str], str] = _same,
    ) -> None:
        self._stream = stream
        self._json = fmt == "json"
        #: cleans an error message of the config's credentials (error paths only)
        self._redact = redact
        #: journald's syslog priority (see observe.logs)
        self._prefix = f"<{_INFO}>" if journald else ""
        self._clock = WallClock()

    @staticmethod
    def enabled() -> bool:
        return log.isEnabledFor(logging.INFO)

    def finish(self, call: Call, outcome: Outcome) -> None:
        if (
            call.method == "OPTIONS"
            or call.route in QUIET_PATHS
            or call.quiet
            or not self.enabled()
        ):
            return
        if self._json:
            self.write_json(fields(call, outcome, self._redact))
            return
        # the line is built here, once, with no arguments left to format later
        dep = outcome.deployment.id if outcome.deployment else "-"
        usage = outcome.usage
        tokens = f"{usage.prompt_tokens}/{usage.completion_tokens}" if usage else "-"
        first = outcome.first_byte_at
        ttfb = f"{(first - call.started) * 1000:.0f}" if first is not None else "-"
        ms = (outcome.ended_at - call.started) * 1000
        err = outcome.error
        error = f" error={self._redact(err.message)!r}" if err is not None else ""
        if outcome.client_gone:
            error += " client_gone"
        model, conversation = call.requested_model or "-", call.conversation_id or "-"
        self.write(
            f"{call.request_id[:12]} {call.method} {printable(call.route)} {outcome.status} "
            f"model={printable(model)} deployment={printable(dep)} tokens={tokens} "
            f"ttfb_ms={ttfb} ms={ms:.0f} conversation={printable(conversation)} "
            f"client={printable(call.client or '-')}{error}"
        )

    def refused(self, status: int, peer: str, why: str) -> None:
        """The line of a connection refused before any request was read whole (a malformed
        request, a head too large or too slow): no request id, method or route to give."""
        if not self.enabled():
            return
        if self._json:
            fields = {"request_id": None, "method": "-", "route": "-", "status": status}
            self.write_json({**fields, "client": peer, "error": why})
        else:
            self.write(f"- - - {status} from={peer} error={why!r}")

    def write(self, line: str) -> None:
        stream = self._stream
        if stream is None:
            log.info(line)
            return
        self._out(
            stream, f"{self._prefix}{self._clock.text(time.time())} INFO {log.name}: {line}\n"
        )

    def write_json(self, f: dict[str, Any]) -> None:
        message = f"{f['method']} {f['route']} {f['status']}"
        stream = self._stream
        if stream is None:
            log.info(message, extra={"fields": f, "request_id": f["request_id"]})
            return
        head = {
            "time": self._clock.iso(time.time()),
            "level": "info",
            "logger": log.name,
            "message": message,
        }
        head.update(f)
        self._out(stream, f"{self._prefix}{orjson.dumps(head).decode()}\n")

    @staticmethod
    def _out(stream: TextIO, text: str) -> None:
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            # a closed or broken stream: like `logging`, never fail a request over its log
            # line (and there is nowhere left to report it)
            pass


def fields(call: Call, outcome: Outcome, redact: Callable[[str], str] = _same) -> dict[str, Any]:
    """The access line's JSON fields (README "Logs"): null where a value does not apply."""
    d, usage, err, who = outcome.deployment, outcome.usage, outcome.error, call.identity
    first = outcome.first_byte_at
    return {
        "request_id": call.request_id,
        "method": call.method,
        "route": call.route,
        "status": outcome.status,
        "model": call.requested_model,
        "model_group": outcome.model_group,
        "deployment": d.id if d is not None else None,
        "stream": call.stream,
        "prompt_tokens": usage.prompt_tokens if usage is not None else None,
        "completion_tokens": usage.completion_tokens if usage is not None else None,
        "cached_tokens": usage.cached_tokens if usage is not None else None,
        "ttfb_ms": round((first - call.started) * 1000, 1) if first is not None else None,
        "duration_ms": round((outcome.ended_at - call.started) * 1000, 1),
        "attempts": len(outcome.attempts),
        "finish_reason": outcome.finish_reason,
        "conversation_id": call.conversation_id,
        "key": who.label if who is not None else None,
        "user_id": who.user_id if who is not None else None,
        "team_id": who.team_id if who is not None else None,
        "end_user": call.end_user,
        "client_ip": call.client,
        "user_agent": call.user_agent,
        "error": redact(err.message) if err is not None else None,
        "error_type": err.error_type if err is not None else None,
        "error_code": err.code if err is not None else None,
        "client_gone": outcome.client_gone,
    }
