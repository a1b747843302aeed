"""Request parameters a deployment never receives (`additional_drop_params`)."""

from __future__ import annotations

import dataclasses

from ..protocol.types import ChatRequest

# ChatRequest fields `additional_drop_params` may name, by their API names
_DROPPABLE = {f.name for f in dataclasses.fields(ChatRequest)} | {
    "max_completion_tokens",
    "max_output_tokens",
    "reasoning",
}
_ALIASES = {
    "max_completion_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "reasoning": "reasoning_effort",
}


def drop_params(req: ChatRequest, names: frozenset[str]) -> ChatRequest:
    if not names:
        return req
    changes = {}
    for name in names:
        field = _ALIASES.get(name, name)
        if field in _DROPPABLE and field not in ("model", "messages", "stream"):
            default = ChatRequest.__dataclass_fields__[field]
            if default.default is not dataclasses.MISSING:
                changes[field] = default.default
            elif default.default_factory is not dataclasses.MISSING:
                changes[field] = default.default_factory()
    return dataclasses.replace(req, **changes)
