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

    def fill() -> None:
        out.extend(
            Message("tool", (TextPart(MISSING_RESULT),), tool_call_id=cid, name=name)
            for cid, name in pending.items()
        )
        pending.clear()

    for m in messages:
        if m.role == "tool":
            if m.tool_call_id in pending:
                del pending[m.tool_call_id]
                out.append(m)
            else:
                note = TextPart(f"Result of tool call {m.tool_call_id or '?'}:\n")
                out.append(Message("user", (note, *m.content)))
            continue
        if m.role != "system":  # a system note between a call and its result changes nothing
            fill()
        out.append(m)
        pending.update((tc.id, tc.name) for tc in m.tool_calls)
    fill()
    return tuple(out)
