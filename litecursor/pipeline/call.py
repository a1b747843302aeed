"""One request's life: the `Call` while it runs, the immutable `Outcome` when it ends.

The middleware opens a `Call` for every request and closes it exactly once; the chat handler
records what it parsed and sent, and the router reports each attempt through the call (as its
`RouteObserver`) without knowing what a call is. Listeners read the call and its outcome; per-
listener state for one request goes in `Call.notes`, the way mitmproxy addons use a flow's
metadata.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Deployment
    from ..errors import LitecursorError
    from ..protocol.types import ChatRequest, Usage
    from .hooks import Pipeline

#: a client's own `x-request-id` is kept when it is this sane (it lands in logs and headers)
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def new_request_id() -> str:
    """128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


def request_id_from(header: str | None) -> str:
    """The client's `x-request-id` when it is a plain token of at most 128 characters, else
    a new one (never a header value that could forge a log line)."""
    if header and _CLIENT_REQUEST_ID.fullmatch(header):
        return header
    return new_request_id()


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, as the authentication point found out."""

    #: "master" for the master key; a virtual key's id (its hash) otherwise
    id: str
    kind: str = "master"
    alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    #: the key feature's own record of the key (limits, budgets), for its listeners
    record: Any = None
    #: "admin": a virtual key the admin gave the admin role (`metadata: {"role": "admin"}`)
    role: str | None = None

    @property
    def is_master(self) -> bool:
        return self.kind == "master"

    @property
    def is_admin(self) -> bool:
        """May use the admin API and the admin page: the master key, or a key with the
        admin role."""
        return self.kind == "master" or self.role == "admin"

    @property
    def label(self) -> str:
        """How logs, exports and metric labels name the key: "master", its alias, or the
        start of its id (a hash, never the key)."""
        if self.is_master:
            return "master"
        return self.alias or f"{self.kind}-{self.id[:8]}"


MASTER = Identity("master")


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try at one deployment, and how it ended (status None: it succeeded)."""

    deployment_id: str
    started: float
    ended: float
    #: the upstream's HTTP status when it answered with an error, or our error's status
    status: int | None = None
    error: str | None = None
    #: what kind of failure, from a fixed set (`upstream_rate_limited`, `upstream_timeout`,
    #: `upstream_error`, `invalid_request_error` ...; "cancelled"), never the provider's text
    kind: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a request ended; made once, at the finish point."""

    status: int
    #: the error the client was told about (as a status, or in-stream after the first byte)
    error: LitecursorError | None
    model_group: str | None
    #: the deployment that answered, or the last one tried
    deployment: Deployment | None
    attempts: tuple[AttemptRecord, ...]
    usage: Usage | None
    #: monotonic times; `first_byte_at` is None when no body byte went out
    first_byte_at: float | None
    ended_at: float
    #: the client went away (disconnected, cancelled) before the answer was complete
    client_gone: bool
    #: ids of the tool calls the client was sent, and the turn's opaque reasoning records
    call_ids: tuple[str, ...] = ()
    reasoning_items: tuple[dict[str, Any], ...] = ()
    #: the finish reason the client was sent (chat routes that answered)
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.client_gone and self.status < 400

    @property
    def upstream_status(self) -> int | None:
        """The last attempt's upstream error status (None: it answered, or none was tried)."""
        return self.attempts[-1].status if self.attempts else None


@dataclass(slots=True, eq=False)
class Call:
    """A request while it runs. Its fields are written here and by the pipeline, nowhere else."""

    pipeline: Pipeline
    request_id: str
    method: str
    route: str
    client: str | None = None
    user_agent: str | None = None
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    identity: Identity | None = None
    # what the client asked for (chat routes, once the body is parsed)
    requested_model: str | None = None
    stream: bool = False
    conversation_id: str | None = None
    #: the end user the client names (`user`; Cursor sends an opaque per-user hash)
    end_user: str | None = None
    # progress
    model_group: str | None = None
    deployment: Deployment | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    first_byte_at: float | None = None
    usage: Usage | None = None
    error: LitecursorError | None = None
    call_ids: tuple[str, ...] = ()
    reasoning_items: tuple[dict[str, Any], ...] = ()
    finish_reason: str | None = None
    #: the answer's id (`chatcmpl-...`), as the client saw it
    response_id: str | None = None
    #: the size of the request body, and the characters of text, reasoning and tool arguments
    #: the upstream produced: what a cut stream's tokens are estimated from when the upstream
    #: never said (counted by the encoder as it writes, never per chunk here)
    request_bytes: int = 0
    output_chars: int = 0
    upstream_done: bool = False
    #: model groups tried after the first (fallbacks)
    fallbacks: int = 0
    #: what the request cost in US dollars, set by the spend listener when the answer is
    #: complete (listeners after it, metrics and exports, read it); None: not priced
    cost: float | None = None
    #: keep up to this many bytes of the request's body and of its answer, for the request
    #: log (`store_prompts_in_spend_logs`); 0 keeps nothing
    body_limit: int = 0
    request_body: bytes | None = None
    #: the answer as one `chat.completion` object, streamed or not (when kept)
    response_body: bytes | None = None
    #: the admin page's own files and reads: no request-log row, no access line
    quiet: bool = False
    #: listeners' own per-request state, keyed by listener
    notes: dict[str, Any] = field(default_factory=dict)
    #: headers listeners add to the answer, whatever it is (rate-limit state, cost)
    headers: dict[str, str] = field(default_factory=dict)
    client_gone: bool = False
    #: the status of a failure the client was told of in a 200 answer instead (a message
    #: Cursor shows, `cursor_errors: message`): the outcome records the failure's own
    failed_status: int | None = None
    #: the event loop's time by which the current attempt must be over (see `attempt_deadline`)
    deadline: float | None = None
    _attempt_started: float = 0.0

    # -- what the chat handler records ---------------------------------------------------

    def parsed(self, req: ChatRequest) -> None:
        self.requested_model = req.model
        self.stream = req.stream
        self.conversation_id = req.conversation_id
        self.end_user = req.user

    def received(self, body: bytes) -> None:
        """The request's body, as read (kept, up to `body_limit`, when the log keeps it)."""
        if self.body_limit:
            self.request_body = body[: self.body_limit]

    def sent(self, answer: bytes) -> None:
        """The whole answer as a `chat.completion` object (kept like the body)."""
        if self.body_limit:
            self.response_body = answer[: self.body_limit]

    def first_byte(self) -> None:
        """The first byte of the answer's body is going out: no retry after this."""
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()

    def gone(self) -> None:
        """The client went away before the answer was complete."""
        self.client_gone = True

    def answered(
        self,
        usage: Usage | None,
        call_ids: list[str],
        reasoning_items: list[dict[str, Any]],
        error: LitecursorError | None = None,
        finish_reason: str | None = None,
        chars: int = 0,
        done: bool = True,
    ) -> None:
        """What the turn produced, streamed or not (`error`: it broke after it started;
        `finish_reason`: the one the client was sent; `chars`: the characters produced;
        `done`: the upstream said it was over, so its usage is the whole turn's). The
        pipeline's `answered` point follows."""
        self.usage = usage
        self.call_ids = tuple(call_ids)
        self.reasoning_items = tuple(reasoning_items)
        self.finish_reason = finish_reason
        self.output_chars = chars
        self.upstream_done = done
        if error is not None:
            self.error = error
        self.pipeline.answered(self)

    def failed_in_message(self, error: LitecursorError) -> None:
        """The failure went to the client as an assistant message in a 200 answer; it is
        still this request's error, with its own status."""
        self.error = error
        self.failed_status = error.status

    # -- what the router reports (the router's `RouteObserver`) ---------------------------

    def group(self, name: str) -> None:
        if self.model_group is not None and name != self.model_group:
            self.fallbacks += 1
        self.model_group = name

    def before_upstream(self, d: Deployment, req: ChatRequest) -> ChatRequest:
        self.deployment = d
        self._attempt_started = time.monotonic()
        return self.pipeline.before_upstream(self, d, req)

    def attempt_ended(self, error: LitecursorError | None, cancelled: bool = False) -> None:
        """The attempt at `self.deployment` is over: answered (no error), failed, or left
        unfinished because the request was cancelled (the client went away)."""
        d = self.deployment
        if d is None:
            return
        status = None if error is None else (error.upstream_status or error.status)
        message = "cancelled" if cancelled else None if error is None else error.message
        kind = "cancelled" if cancelled else None if error is None else error.kind
        self.attempts.append(
            AttemptRecord(d.id, self._attempt_started, time.monotonic(), status, message, kind)
        )

    def attempt_deadline(self, at: float) -> None:
        self.deadline = at

    def stalled(self, error: LitecursorError) -> None:
        """The client stopped reading and was dropped at the deadline."""
        self.error = error
        self.client_gone = True

    # -- the end ---------------------------------------------------------------------------

    def outcome(self, status: int, error: LitecursorError | None, client_gone: bool) -> Outcome:
        return Outcome(
            status=self.failed_status or status,
            error=error if error is not None else self.error,
            model_group=self.model_group,
            deployment=self.deployment,
            attempts=tuple(self.attempts),
            usage=self.usage,
            first_byte_at=self.first_byte_at,
            ended_at=time.monotonic(),
            client_gone=client_gone or self.client_gone,
            call_ids=self.call_ids,
            reasoning_items=self.reasoning_items,
            finish_reason=self.finish_reason,
        )

    @property
    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000
