"""How the router reads a failure: the deployment's fault or the client's, raised before the stream, none available."""

from __future__ import annotations

from ..config import Deployment
from ..errors import (
    InvalidRequestError,
    LitecursorError,
    NoDeploymentAvailableError,
)
from ..protocol.types import Event, ReasoningItem, StreamError, Usage
from .names import Group


def counts_against(e: LitecursorError, d: Deployment) -> bool:
    """Whether a failure is the deployment's (counts toward its cooldown), not the client's.
    A wildcard group's 404 is the client's: it named a model the provider does not have."""
    if isinstance(e, InvalidRequestError | NoDeploymentAvailableError):
        return False
    return not (d.is_wildcard and e.upstream_status == 404)


def none_available(group: Group, why: list[tuple[str, float]]) -> NoDeploymentAvailableError:
    kinds = {k for k, _ in why}
    if kinds == {"cooling"}:
        state = "is cooling down after failures"
    elif kinds == {"limit"}:
        state = "is at its rpm/tpm/max_parallel_requests limit"
    else:
        state = "is cooling down or at its limits"
    wait = min(w for _, w in why)
    every = "the only deployment" if len(why) == 1 else f"every deployment ({len(why)})"
    return NoDeploymentAvailableError(
        f"no deployment of model group '{group.name}' can take the request: {every} {state}; "
        f"retry in {max(1, int(-(-wait // 1)))} s",
        retry_after=wait,
    )


def raise_early_error(events: list[Event]) -> None:
    """An error before anything the client would see is raised, to be retried or answered
    with a status code; after visible content it stays an in-stream error."""
    for ev in events:
        if isinstance(ev, StreamError):
            raise ev.error
        if not isinstance(ev, Usage | ReasoningItem):
            return
