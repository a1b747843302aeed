"""Reasoning replay: give an upstream back the opaque reasoning Cursor drops between turns.

OpenAI's Responses API returns encrypted reasoning items, Anthropic signs its thinking blocks,
Gemini 3 signs its function calls. Each wants them back next turn with the tool calls they led
to: without them GPT-5 models lose their plan between agent steps ("announce but never call"),
and Anthropic must turn thinking off inside a tool loop. Cursor only ever sees Chat Completions
and replays history without them. So the gateway keeps them, keyed by the ids of the tool calls
the client saw, and puts them back on the assistant turn that carries those calls when the next
request goes to an upstream with the same credentials (encrypted content only decrypts there).
Each adapter then uses only the items in its own shape.

It is a pipeline listener: `before_upstream` restores, `finish` remembers a turn that ended well.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from .config import Deployment
from .protocol.types import ChatRequest, Message

if TYPE_CHECKING:
    from .pipeline import Call, Outcome


class _Turn:
    """One turn's reasoning, shared by the ids of its calls."""

    __slots__ = ("items", "refs", "scope", "size")

    def __init__(self, scope: str, items: tuple[dict[str, Any], ...], size: int) -> None:
        self.scope = scope
        self.items = items
        self.size = size
        self.refs = 0


def scope_of(d: Deployment) -> str:
    """Deployments that share an API family, a base URL and a key can read each other's
    reasoning; the key itself is never stored."""
    raw = f"{d.adapter}\0{d.target.api_base}\0{d.target.api_key or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class ReasoningReplay:
    """A bounded, least-recently-used map: tool call id -> the reasoning of its turn."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Turn] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    # -- as a pipeline listener ----------------------------------------------------------

    def before_upstream(self, call: Call, d: Deployment, req: ChatRequest) -> ChatRequest:
        return self.restore(req, d)

    def finish(self, call: Call, outcome: Outcome) -> None:
        if outcome.error is None and not outcome.client_gone:
            self.remember(outcome.deployment, outcome.call_ids, outcome.reasoning_items)

    def remember(
        self, d: Deployment | None, call_ids: Sequence[str], items: Sequence[dict[str, Any]]
    ) -> None:
        """After a turn: its reasoning, under each of its call ids (a turn without calls has
        nothing the next request could be matched by)."""
        if d is None or not call_ids or not items or self.max_bytes <= 0:
            return
        size = len(orjson.dumps(list(items)))
        if size > self.max_bytes:
            return
        turn = _Turn(scope_of(d), tuple(items), size)
        self._bytes += size  # counted once, however many call ids share it
        for cid in call_ids:
            self._drop(cid)
            self._entries[cid] = turn
            turn.refs += 1
        self._trim()

    def resize(self, max_bytes: int) -> None:
        """A new limit (a reloaded config's `reasoning_replay_mb`): the oldest turns go until
        what is kept fits; 0 forgets everything."""
        self.max_bytes = max_bytes
        self._trim()

    def _trim(self) -> None:
        while self._bytes > max(self.max_bytes, 0) and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, cid: str) -> None:
        old = self._entries.pop(cid, None)
        if old is not None:
            old.refs -= 1
            if old.refs == 0:
                self._bytes -= old.size

    def restore(self, req: ChatRequest, d: Deployment) -> ChatRequest:
        """`req` with remembered reasoning put back on assistant turns that lack it."""
        if not self._entries:
            return req
        scope = None
        messages: list[Message] | None = None
        for i, m in enumerate(req.messages):
            if m.role != "assistant" or not m.tool_calls or m.reasoning:
                continue
            turn = self._entries.get(m.tool_calls[0].id)
            if turn is None:
                continue
            scope = scope or scope_of(d)
            if turn.scope != scope:
                continue
            self._entries.move_to_end(m.tool_calls[0].id)
            if messages is None:
                messages = list(req.messages)
            messages[i] = dataclasses.replace(m, reasoning=turn.items)
        if messages is None:
            return req
        return dataclasses.replace(req, messages=tuple(messages))
