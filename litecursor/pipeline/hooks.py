"""The named points of a request's life, and the listeners (addons) attached to them.

A listener is any object with one or more of these methods, the way mitmproxy addons are:

    async def authenticate(self, call: Call, token: str) -> Identity | None
        Every route but the public ones, before the handler: who holds `token`? The first
        listener to answer wins; when none does, the request is refused with 401.
    def list_models(self, call: Call, names: list[str]) -> list[str]
        The model list routes (`GET /v1/models`, ...), once the caller is known: returns the
        names this caller sees (a key restricted to some models sees those). Must not block.
    async def admit(self, call: Call, req: ChatRequest) -> None
        Chat routes, once the body is parsed and before any upstream is chosen: may refuse the
        request by raising a `LitecursorError` (a model the key may not use, a spent budget,
        a rate limit). Awaits nothing on one instance: state lives in memory.
    def before_upstream(self, call: Call, d: Deployment, req: ChatRequest) -> ChatRequest
        Each attempt, right before the request for `d` is built: may return a changed request.
    def answered(self, call: Call) -> None
        Chat routes, once what the upstream produced is known (usage, characters, finish
        reason; streamed or not, complete or cut) and before a non-streamed answer's headers
        are sent: may add headers to `call.headers` (its cost). Must not block.
    def finish(self, call: Call, outcome: Outcome) -> None
        Exactly once per request, whatever happened (answered, failed before or after the
        first byte, client gone, cancelled). Must not block: a listener with I/O to do
        enqueues it and returns.

Only `admit` may stop a request. An exception from any other listener (or a non-`LitecursorError`
one from `admit`) is logged with the request id and the request goes on: a broken log exporter
must never cost a developer an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import LitecursorError
from .call import Call, Identity, Outcome

if TYPE_CHECKING:
    from ..config import Deployment
    from ..protocol.types import ChatRequest

log = logging.getLogger("litecursor.pipeline")

Authenticate = Callable[[Call, str], Awaitable[Identity | None]]
Admit = Callable[[Call, "ChatRequest"], Awaitable[None]]
BeforeUpstream = Callable[[Call, "Deployment", "ChatRequest"], "ChatRequest"]
Answered = Callable[[Call], None]
Finish = Callable[[Call, Outcome], None]
ListModels = Callable[[Call, list[str]], list[str]]

HOOKS = ("authenticate", "list_models", "admit", "before_upstream", "answered", "finish")


class Pipeline:
    """Holds the listeners of each point, in the order they were added."""

    def __init__(self, listeners: Iterable[object] = ()) -> None:
        self._authenticate: list[Authenticate] = []
        self._list_models: list[ListModels] = []
        self._admit: list[Admit] = []
        self._before: list[BeforeUpstream] = []
        self._answered: list[Answered] = []
        self._finish: list[Finish] = []
        self.listeners: list[object] = []
        for listener in listeners:
            self.add(listener)

    def add(self, listener: object) -> None:
        """Attach every hook method `listener` has; it must have at least one."""
        found = [name for name in HOOKS if callable(getattr(listener, name, None))]
        if not found:
            raise TypeError(f"{type(listener).__name__} has none of the hooks {', '.join(HOOKS)}")
        self.listeners.append(listener)
        if "authenticate" in found:
            self._authenticate.append(listener.authenticate)  # type: ignore[attr-defined]
        if "list_models" in found:
            self._list_models.append(listener.list_models)  # type: ignore[attr-defined]
        if "admit" in found:
            self._admit.append(listener.admit)  # type: ignore[attr-defined]
        if "before_upstream" in found:
            self._before.append(listener.before_upstream)  # type: ignore[attr-defined]
        if "answered" in found:
            self._answered.append(listener.answered)  # type: ignore[attr-defined]
        if "finish" in found:
            self._finish.append(listener.finish)  # type: ignore[attr-defined]

    def find(self, kind: type[Any]) -> Any:
        """The first listener of that type, or None."""
        return next((x for x in self.listeners if isinstance(x, kind)), None)

    # -- the points ----------------------------------------------------------------------

    async def authenticate(self, call: Call, token: str) -> Identity | None:
        for hook in self._authenticate:
            try:
                identity = await hook(call, token)
            except LitecursorError:
                raise
            except Exception:
                _failed(hook, call)
                continue
            if identity is not None:
                call.identity = identity
                return identity
        return None

    def list_models(self, call: Call, names: list[str]) -> list[str]:
        """Each listener narrows the list in turn. One that breaks leaves the list as it was:
        it only tells what exists; admission still refuses a model the caller may not use."""
        for hook in self._list_models:
            try:
                names = hook(call, names)
            except Exception:
                _failed(hook, call)
        return names

    async def admit(self, call: Call, req: ChatRequest) -> None:
        for hook in self._admit:
            try:
                await hook(call, req)
            except LitecursorError:
                raise
            except Exception:
                _failed(hook, call)

    def before_upstream(self, call: Call, d: Deployment, req: ChatRequest) -> ChatRequest:
        for hook in self._before:
            try:
                req = hook(call, d, req)
            except Exception:
                _failed(hook, call)
        return req

    def answered(self, call: Call) -> None:
        for hook in self._answered:
            try:
                hook(call)
            except Exception:
                _failed(hook, call)

    def finish(self, call: Call, outcome: Outcome) -> None:
        for hook in self._finish:
            try:
                hook(call, outcome)
            except Exception:
                _failed(hook, call)


def _failed(hook: Callable[..., Any], call: Call) -> None:
    owner = getattr(hook, "__self__", hook)
    log.exception(
        "listener %s failed in %s (request %s); the request goes on",
        type(owner).__name__,
        getattr(hook, "__name__", "?"),
        call.request_id,
    )
