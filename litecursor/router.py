"""Deployment choice for a model name, and running one request against it.

`Router.stream` yields batches of internal events; a failure before the first batch is
yielded may be retried elsewhere, a failure after it is the caller's to report in-stream.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

from .config import Config, Deployment
from .context import Attempt, RequestContext
from .errors import LitecursorError, ModelNotFoundError, UpstreamError
from .protocol.providers import Provider, get_provider
from .protocol.types import ChatRequest, Event, ReasoningItem, StreamError, Usage
from .upstream import Timeouts, UpstreamClient, UpstreamResponse

# ChatRequest fields `additional_drop_params` may name, by their API names
_DROPPABLE = {f.name for f in dataclasses.fields(ChatRequest)} | {"max_completion_tokens",
                                                                   "max_output_tokens", "reasoning"}
_ALIASES = {"max_completion_tokens": "max_tokens", "max_output_tokens": "max_tokens",
            "reasoning": "reasoning_effort"}


class Router:
    def __init__(self, config: Config, client: UpstreamClient) -> None:
        self.config = config
        self.client = client
        self._groups: dict[str, list[Deployment]] = {}
        for d in config.deployments:
            self._groups.setdefault(d.model_name, []).append(d)

    # -- naming ---------------------------------------------------------------------------

    def group(self, model: str) -> list[Deployment]:
        deployments = self._groups.get(model)
        if not deployments:
            names = ", ".join(self.config.model_names)
            raise ModelNotFoundError(f"model '{model}' is not configured; available models: {names}",
                                     param="model")
        return deployments

    def pick(self, ctx: RequestContext, model: str) -> Deployment:
        return self.group(model)[0]

    # -- running --------------------------------------------------------------------------

    def timeouts(self, d: Deployment, stream: bool) -> Timeouts:
        r = self.config.router
        total = d.timeout or r.timeout
        first = (d.stream_timeout or r.stream_timeout or total) if stream else total
        return Timeouts(connect=r.connect_timeout, first_byte=first, idle=r.idle_timeout, total=total)

    async def stream(self, ctx: RequestContext, req: ChatRequest) -> AsyncIterator[list[Event]]:
        """Events for `req`, batch by batch, as they arrive from the upstream."""
        ctx.model_group = req.model
        d = self.pick(ctx, req.model)
        async for events in self.run(ctx, d, req):
            yield events

    async def complete(self, ctx: RequestContext, req: ChatRequest) -> list[Event]:
        """All events of a non-streaming request."""
        events: list[Event] = []
        async for batch in self.stream(ctx, req):
            events.extend(batch)
        return events

    async def run(self, ctx: RequestContext, d: Deployment, req: ChatRequest) -> AsyncIterator[list[Event]]:
        """One attempt at one deployment. A `StreamError` before any event was yielded is
        raised instead, so the caller can still retry or answer with a status code."""
        ctx.deployment = d
        attempt = Attempt(d.id, started=_now())
        ctx.attempts.append(attempt)
        provider = get_provider(d.adapter)
        req = drop_params(req, d.drop_params)
        yielded = False
        try:
            async with self._open(provider, d, req) as resp:
                if resp.status >= 400:
                    body = await resp.read()
                    raise provider.decode_error(resp.status, resp.headers, body)
                if not req.stream:
                    yield provider.decode_response(await resp.read(), req, d.target)
                    return
                decoder = provider.open_decoder(req, d.target)
                async for data in resp.chunks():
                    events = decoder.feed(data)
                    if events:
                        if not yielded:
                            _raise_early_error(events)
                            yielded = True
                        yield events
                events = decoder.close()
                if events:
                    if not yielded:
                        _raise_early_error(events)
                    yield events
        except LitecursorError as e:
            attempt.error = e.message
            attempt.status = getattr(e, "upstream_status", None) or e.status
            raise
        finally:
            attempt.ended = _now()

    def _open(self, provider: Provider, d: Deployment, req: ChatRequest):  # type: ignore[no-untyped-def]
        if provider.transport == "local":
            body = provider.local_response(req, d.target)  # type: ignore[attr-defined]
            return self.client.open_local(body, provider.delay(d.target))  # type: ignore[attr-defined]
        http = provider.build_request(req, d.target)
        return self.client.open(http, self.timeouts(d, req.stream))


def _raise_early_error(events: list[Event]) -> None:
    """An error before anything the client would see is raised, to be retried or answered
    with a status code; after visible content it stays an in-stream error."""
    for ev in events:
        if isinstance(ev, StreamError):
            raise UpstreamError(ev.message, code=ev.code, upstream_status=ev.status)
        if not isinstance(ev, Usage | ReasoningItem):
            return


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


def _now() -> float:
    return time.monotonic()


__all__ = ["Router", "UpstreamResponse", "drop_params"]
