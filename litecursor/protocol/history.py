"""Conversation repairs every upstream needs: each tool call answered, each tool result answering a call.

OpenAI (both APIs), Anthropic and Gemini all refuse a history whose tool results do not follow
their calls directly, with a call left unanswered, or a result whose call is not in the turn
before it. Client histories break this (an interrupted agent step, a note or a user message
between a call and its result, trimmed or compacted history), so:

* a result that arrives later than the message after its call is moved up next to its call,
  and what sat between them follows the results, in its order;
* a call that has no result anywhere is answered with a note;
* a result whose call is nowhere before it is kept as user text.
"""

from __future__ import annotations

from .types import Message, TextPart

MISSING_RESULT = "No result was recorded for this tool call."


def pair_tool_results(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    if not any(m.role == "tool" or m.tool_calls for m in messages) or _paired(messages):
        return messages
    return _repair(messages)


def _paired(messages: tuple[Message, ...]) -> bool:
    """Whether every call's results follow it directly and every result answers one: the
    usual history, which needs no copy."""
    pending: set[str] = set()
    for m in messages:
        if m.role == "tool":
            if m.tool_call_id not in pending:
                return False
            pending.discard(m.tool_call_id)
        elif pending:
            return False
        elif m.tool_calls:
            pending = {tc.id for tc in m.tool_calls}
    return not pending


def _repair(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    # where each call id's results are, so a late one can be found without a search
    results: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        if m.role == "tool":
            results.setdefault(m.tool_call_id or "", []).append(i)
    moved: set[int] = set()  # results already placed next to their call
    out: list[Message] = []
    for i, m in enumerate(messages):
        if m.role == "tool":
            if i in moved:
                continue
            note = TextPart(f"Result of tool call {m.tool_call_id or '?'}:\n")
            out.append(Message("user", (note, *m.content)))
            continue
        out.append(m)
        if not m.tool_calls:
            continue
        # this turn's results, in the order they were sent, then a note for each call without one
        found: list[int] = []
        for tc in m.tool_calls:
            at = next((j for j in results.get(tc.id, ()) if j > i and j not in moved), None)
            if at is not None:
                moved.add(at)
                found.append(at)
        found.sort()
        out.extend(messages[j] for j in found)
        answered = {messages[j].tool_call_id for j in found}
        out.extend(
            Message("tool", (TextPart(MISSING_RESULT),), tool_call_id=tc.id, name=tc.name)
            for tc in m.tool_calls
            if tc.id not in answered
        )
    return tuple(out)
