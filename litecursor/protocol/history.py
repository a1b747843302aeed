"""Conversation repairs every upstream needs: each tool call answered, each tool result answering a call.

OpenAI (both APIs), Anthropic and Gemini all refuse a history with a call left unanswered
before the conversation moves on, or a result whose call is not in the turn before it. Client
histories break this (an interrupted agent step, trimmed or compacted history), so a missing
result is filled in with a note and a stray result is kept as user text.
"""

from __future__ import annotations

from .types import Message, TextPart

MISSING_RESULT = "No result was recorded for this tool call."


def pair_tool_results(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    if not any(m.role == "tool" or m.tool_calls for m in messages):
        return messages
    out: list[Message] = []
    pending: dict[str, str] = {}  # call id -> tool name, for the assistant turn just before
    for m in messages:
        if m.role == "tool":
            if m.tool_call_id in pending:
                del pending[m.tool_call_id]
                out.append(m)
            else:
                note = TextPart(f"Result of tool call {m.tool_call_id or '?'}:\n")
                out.append(Message("user", (note, *m.content)))
            continue
        # a system note between a call and its result changes nothing
        if pending and m.role != "system":
            _fill(out, pending)
        out.append(m)
        for tc in m.tool_calls:
            pending[tc.id] = tc.name
    _fill(out, pending)
    return tuple(out)


def _fill(out: list[Message], pending: dict[str, str]) -> None:
    """A result for each call left unanswered."""
    out.extend(
        Message("tool", (TextPart(MISSING_RESULT),), tool_call_id=cid, name=name)
        for cid, name in pending.items()
    )
    pending.clear()
