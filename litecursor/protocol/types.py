"""The internal request every inbound dialect becomes, and the stream events every provider decodes to.

All of it is plain frozen data: inbound translation builds a `ChatRequest`, a provider adapter
reads it to build the upstream request, the provider's decoder turns upstream bytes into
`Event`s, and the chat encoder turns those into Chat Completions for the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import LitecursorError

Role = Literal["system", "user", "assistant", "tool"]
ToolKind = Literal["function", "custom"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
Dialect = Literal["chat", "responses"]

# ---------------------------------------------------------------------------------------------
# Request
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    #: the client's own prompt-cache mark (`{"type": "ephemeral"}`), kept for Anthropic
    cache_control: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image: `url` is a `data:` URL or an http(s) URL; `detail` is OpenAI's hint."""

    url: str
    detail: str | None = None

    @property
    def media_type(self) -> str | None:
        """The MIME type of a data URL (``image/png``), else None."""
        if not self.url.startswith("data:"):
            return None
        head = self.url[5:].split(",", 1)[0]
        return head.split(";", 1)[0] or None

    @property
    def base64_data(self) -> str | None:
        """The payload of a base64 data URL, else None."""
        if not self.url.startswith("data:"):
            return None
        head, _, data = self.url[5:].partition(",")
        return data if head.endswith(";base64") else None


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the assistant made, as replayed in history.

    For a custom tool (`kind == "custom"`) `arguments` is the raw text input (an ApplyPatch
    patch), never JSON; for a function tool it is the JSON-encoded arguments string.
    """

    id: str
    name: str
    arguments: str
    kind: ToolKind = "function"


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation turn.

    `reasoning` holds opaque reasoning items (OpenAI Responses `reasoning` items with
    `encrypted_content`) that preceded this assistant turn; only the upstream that produced
    them can use them, every other provider ignores them.
    For `role == "tool"`, `tool_call_id` names the call answered and `name` the tool.
    """

    role: Role
    content: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: tuple[dict[str, Any], ...] = ()

    @property
    def text(self) -> str:
        """The concatenated text parts (images left out)."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the model may call.

    Function tools carry a JSON schema in `parameters`. Custom tools (`kind == "custom"`,
    Cursor's ApplyPatch) take free text; `format` keeps their grammar
    (``{"type": "grammar", "syntax": "lark", "definition": ...}``) when one was given.
    """

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    kind: ToolKind = "function"
    strict: bool | None = None
    format: dict[str, Any] | None = None
    #: the client's own prompt-cache mark, kept for Anthropic
    cache_control: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """`mode` is auto / none / required; `name` forces one tool (mode is then "required")."""

    mode: Literal["auto", "none", "required"] = "auto"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: `type` is text / json_object / json_schema."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


#: Responses request fields kept verbatim for a Responses upstream, the only one that takes them
#: (`background` is not among them: the gateway answers in the same request, so a client asking
#: for a background response is refused rather than answered in the foreground; `prompt_cache_key`
#: is a field of its own, for every OpenAI upstream)
RESPONSES_EXTRAS = (
    "include",
    "store",
    "truncation",
    "prompt_cache_retention",
    "previous_response_id",
)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A client request in litecursor's own terms, whatever dialect it arrived in.

    System and developer text stays in `messages`, in order, as ``role == "system"``; each
    provider adapter places it where its API wants it.
    """

    model: str
    messages: tuple[Message, ...]
    dialect: Dialect = "chat"
    stream: bool = False
    include_usage: bool = False
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    #: minimal / low / medium / high / xhigh (or "none"), from `reasoning.effort` or `reasoning_effort`
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    verbosity: str | None = None
    user: str | None = None
    service_tier: str | None = None
    #: the client's `prompt_cache_key` (OpenAI); else the conversation id is used
    prompt_cache_key: str | None = None
    #: Cursor's `metadata.cursorConversationId`: kept for logs and cache affinity, never forwarded
    conversation_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: Responses-only request fields kept verbatim for a Responses upstream (`RESPONSES_EXTRAS`)
    responses_extras: dict[str, Any] = field(default_factory=dict)

    def tool(self, name: str) -> Tool | None:
        for t in self.tools:
            if t.name == name:
                return t
        return None

    @property
    def custom_tool_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.tools if t.kind == "custom")


# ---------------------------------------------------------------------------------------------
# Stream events (what a provider decoder yields)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Human-readable reasoning (a summary or thinking text)."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningItem:
    """An opaque reasoning record the upstream wants back next turn (encrypted content,
    a thinking signature). Not shown to the client; kept for logging and replay caches."""

    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """A new tool call. `key` is the upstream's own handle for it (an index or an id), used
    only to route later `ToolCallDelta`s; the encoder numbers calls 0, 1, 2... itself."""

    key: int | str
    id: str
    name: str
    kind: ToolKind = "function"


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    key: int | str
    arguments: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: Anthropic's cache writes, counted inside prompt_tokens
    cache_creation_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason


@dataclass(frozen=True, slots=True, eq=False)
class StreamError:
    """The upstream reported an error inside its stream, or the stream broke: `error` is the
    error the client is told, the same one the failure would have been before the stream
    started (the router raises it then, to retry or answer with its status)."""

    error: LitecursorError

    @property
    def message(self) -> str:
        return self.error.message

    @property
    def code(self) -> str | None:
        return self.error.code

    @property
    def status(self) -> int:
        return self.error.status

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamError):
            return NotImplemented
        a, b = self.error, other.error
        return (type(a), a.message, a.code, a.upstream_status) == (
            type(b),
            b.message,
            b.code,
            b.upstream_status,
        )

    def __hash__(self) -> int:
        return hash((type(self.error), self.error.message))

    def __repr__(self) -> str:
        return f"StreamError({self.error!r})"


Event = (
    TextDelta
    | ReasoningDelta
    | ReasoningItem
    | RefusalDelta
    | ToolCallStart
    | ToolCallDelta
    | Usage
    | Finish
    | StreamError
)
