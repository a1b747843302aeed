"""What the router tells the world: about one request (`RouteObserver`), about its deployments (`Cooldown`, `DeploymentHealth`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..config import Deployment
from ..errors import LitecursorError
from ..protocol.types import ChatRequest
from .state import DeploymentState


class RouteObserver(Protocol):
    """What the router reports about one request, to whoever runs it (the pipeline's `Call`)."""

    def group(self, name: str) -> None:
        """The router works on this model group now (the requested one, then fallbacks)."""

    def before_upstream(self, d: Deployment, req: ChatRequest) -> ChatRequest:
        """An attempt at `d` starts; returns the request to send it (possibly changed)."""
        ...

    def attempt_ended(self, error: LitecursorError | None, cancelled: bool = False) -> None:
        """The attempt that last started is over: answered, failed, or cancelled."""

    def attempt_deadline(self, at: float) -> None:
        """The attempt must be over by `at` (the event loop's clock): the deployment's total
        timeout, which also bounds writing its answer to a client that stopped reading."""


class Unobserved:
    """A `RouteObserver` that records nothing (the router used on its own)."""

    def group(self, name: str) -> None:
        pass

    def before_upstream(self, d: Deployment, req: ChatRequest) -> ChatRequest:
        return req

    def attempt_ended(self, error: LitecursorError | None, cancelled: bool = False) -> None:
        pass

    def attempt_deadline(self, at: float) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A deployment starts cooling down: what `Router.on_cooldown` callbacks are told."""

    deployment: Deployment
    seconds: float
    #: the failure that decided it: the upstream's status (None: no answer) and message
    status: int | None
    message: str


@dataclass(frozen=True, slots=True)
class DeploymentHealth:
    deployment: Deployment
    state: DeploymentState
    #: seconds until the deployment takes requests again (0: now)
    cooldown_remaining: float
    at_limit: bool
