"""Cursor's model-name variants: the effort and speed suffixes of a name (`gpt-5.4-thinking-high-fast`)
and what each does to a request.

The grammar, read from the right: an optional `-fast` (the priority service tier), then an
optional reasoning effort (`-minimal`, `-low`, `-medium`, `-high`, `-xhigh`), then an optional
`-thinking` (reasoning on, at the deployment's default effort). Which names a suffix may be
stripped from is the router's naming (`router/names.py`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .types import ChatRequest

EFFORTS = ("minimal", "low", "medium", "high", "xhigh")
#: the effort of `-thinking` on a deployment without a `reasoning_effort` of its own
THINKING_EFFORT = "medium"


@dataclass(frozen=True, slots=True)
class Variant:
    """What a name's suffix asks for: `suffix` is its text (`thinking-high-fast`)."""

    suffix: str
    effort: str | None = None
    thinking: bool = False
    fast: bool = False

    def apply(self, req: ChatRequest, default_effort: str | None) -> ChatRequest:
        """The request with the suffix's effect: its effort (`thinking`: the deployment's
        `default_effort`, or medium) and, for `fast`, the priority service tier (sent only
        by upstreams that have one)."""
        changes: dict[str, Any] = {}
        effort = self.effort
        if effort is None and self.thinking:
            effort = default_effort if default_effort not in (None, "none") else THINKING_EFFORT
        if effort is not None:
            changes["reasoning_effort"] = effort
        if self.fast:
            changes["service_tier"] = "priority"
        return dataclasses.replace(req, **changes) if changes else req


def split_variant(name: str) -> tuple[str, Variant] | None:
    """(base name, variant) for a name with at least one known suffix, else None."""
    base = name
    fast = base.endswith("-fast")
    if fast:
        base = base[: -len("-fast")]
    effort = None
    head, sep, last = base.rpartition("-")
    if sep and last in EFFORTS:
        effort, base = last, head
    thinking = base.endswith("-thinking")
    if thinking:
        base = base[: -len("-thinking")]
    if base == name or not base:
        return None
    return base, Variant(name[len(base) + 1 :], effort, thinking, fast)


def parse_suffix(suffix: str) -> Variant | None:
    """The variant a bare suffix (`thinking-high`, as `model_variants` lists them) names."""
    found = split_variant(f"x-{suffix}")
    return found[1] if found is not None and found[0] == "x" else None
