"""Deployment choice, retries, fallbacks, cooldowns and timeouts for one request.

`Router.stream` yields batches of internal events. Until the first batch is yielded, a failure
may be retried on the group's deployments (`num_retries`) and then on its fallback groups;
after it, the failure is the caller's to report in-stream. Bookkeeping happens once per attempt
(in-flight counts, first-token latency, failures), never per chunk.

The router knows nothing of the request around it: it tells a `RouteObserver` which group it
is on and each attempt's start and end, and the observer may change the request right before
it is built for a deployment (the pipeline's "before upstream" point).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AsyncExitStack

from ..clouds import RequestAuth, make_auth
from ..config import Config, Deployment
from ..errors import (
    ContentPolicyError,
    ContextWindowExceededError,
    InvalidRequestError,
    LitecursorError,
    ModelNotFoundError,
    NoDeploymentAvailableError,
    RateLimitError,
)
from ..protocol.providers import Provider, Target, get_provider
from ..protocol.providers.base import retry_after_seconds
from ..protocol.types import ChatRequest, Event, StreamError
from ..redaction import Redactor
from ..upstream import ERROR_BODY, Timeouts, UpstreamClient, UpstreamResponse
from . import strategies
from .failures import counts_against, none_available, raise_early_error
from .names import Group, Names
from .params import drop_params
from .reports import Cooldown, DeploymentHealth, RouteObserver, Unobserved
from .state import Clock, MemoryState, MonotonicClock, RecentError, StateStore

#: jittered exponential backoff before retrying the same deployment: 0.5 s, 1 s, 2 s ... 8 s
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
#: upstream statuses that cool a deployment down at once
IMMEDIATE_COOLDOWN = frozenset({401, 404, 429})
#: a cooldown never lasts longer than this, whatever an upstream's retry-after says
MAX_COOLDOWN = 3600.0

log = logging.getLogger("litecursor.router")


class _Run:
    """One request's progress across its attempts."""

    __slots__ = ("hint", "request", "yielded")

    def __init__(self, request: ChatRequest | None = None) -> None:
        self.yielded = False  # a batch went to the caller: no more retries or fallbacks
        self.hint: float | None = None  # the last failure's retry-after, seconds
        #: kept for retries until the first batch is out, then let go: an answer that streams
        #: for minutes should not hold the parsed request (tools, history) all that time
        self.request = request


class Router:
    def __init__(
        self,
        config: Config,
        client: UpstreamClient,
        *,
        clock: Clock | None = None,
        state: StateStore | None = None,
        rng: random.Random | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        self.settings = config.router
        self.client = client
        self.clock: Clock = clock or MonotonicClock()
        self.state: StateStore = state or MemoryState()
        self.rng = rng or random.Random()
        self.names = Names(config.deployments, self.settings.model_group_alias)
        self._coolable = self._coolable_ids()
        #: every error an attempt ends with passes through it: upstream text enters here
        self.redact = redactor or Redactor.for_deployments(config.deployments, config.master_key)
        #: the cloud deployments' credentials (tokens, signing keys), each refreshed on its own
        self.auth: dict[str, RequestAuth] = {
            d.id: make_auth(d.auth, d.id, client.session)
            for d in config.deployments
            if d.auth is not None
        }
        for auth in self.auth.values():  # tokens minted later are secrets too
            auth.watch_secrets(self.redact.learn)
        #: called when a deployment starts cooling down (metrics, alerts); never raises
        #: into the router
        self.on_cooldown: list[Callable[[Cooldown], None]] = []
        #: what serving taught about a deployment's model (a Bedrock model refusing tools in
        #: ConverseStream): the target it is asked with from then on, by deployment id
        self.learned: dict[str, Target] = {}

    def _coolable_ids(self) -> frozenset[str]:
        """Deployments worth cooling down: those with another deployment in their group, or
        a fallback group. Cooling the only way to serve a model would just turn the
        upstream's own errors into 429s and delay its recovery."""
        s = self.settings
        sizes = Counter(d.model_name for d in self.config.deployments)
        with_fallbacks = {g.name for k in s.fallbacks if (g := self.names.resolve(k)) is not None}
        return frozenset(
            d.id
            for d in self.config.deployments
            if sizes[d.model_name] > 1 or s.default_fallbacks or d.model_name in with_fallbacks
        )

    # -- naming ---------------------------------------------------------------------------

    def group(self, model: str) -> list[Deployment]:
        return list(self.resolve(model).deployments)

    def resolve(self, model: str) -> Group:
        group = self.names.resolve(model)
        if group is None:
            names = ", ".join(self.names.model_names)
            raise ModelNotFoundError(
                f"model '{model}' is not configured; available models: {names}", param="model"
            )
        return group

    # -- running --------------------------------------------------------------------------

    def timeouts(self, d: Deployment, stream: bool) -> Timeouts:
        r = self.settings
        total = d.timeout or r.timeout
        first = (d.stream_timeout or r.stream_timeout or total) if stream else total
        return Timeouts(
            connect=d.connect_timeout or r.connect_timeout,
            first_byte=min(first, total),
            idle=d.idle_timeout or r.idle_timeout,
            total=total,
        )

    async def stream(
        self, req: ChatRequest, observer: RouteObserver | None = None
    ) -> AsyncGenerator[list[Event], None]:
        """Events for `req`, batch by batch, as they arrive from the upstream.

        Each group gets up to 1 + `num_retries` attempts, each on a deployment not tried yet
        when one can take the request; then the fallback groups, in order. Written as one
        loop so a streamed batch passes through no more generators than `run`'s."""
        primary = self.resolve(req.model)
        model = req.model
        retries = self.settings.num_retries
        observer = observer or Unobserved()
        run = _Run(req)
        del req  # `run.request` has it until the first batch is out
        group: Group | None = primary
        first: LitecursorError | None = None
        fallbacks: list[str] = []
        while group is not None:
            observer.group(group.name)
            tried: list[str] = []
            error: LitecursorError | None = None
            for n in range(retries + 1):
                try:
                    d = self._pick(group, tried)
                except NoDeploymentAvailableError as e:
                    error = error or e  # an upstream's own failure says more than "none left"
                    break
                tried.append(d.id)
                try:
                    assert run.request is not None  # retries happen before the first batch
                    async for events in self.run(d, _for(group, d, run.request), observer, run):
                        yield events
                    return
                except LitecursorError as e:
                    if run.yielded:
                        raise
                    error = e
                if not error.retryable or n == retries:
                    break
                wait = self._wait(error, n, group, tried, run.hint)
                if wait is None:
                    break
                if wait > 0:
                    await self.clock.sleep(wait)
            assert error is not None
            if first is None:
                first = error
                fallbacks = list(self._fallbacks(model, primary.name, error))
            group = self._next(fallbacks)
        # the requested group's own failure says most about what went wrong
        assert first is not None
        raise first

    async def complete(
        self, req: ChatRequest, observer: RouteObserver | None = None
    ) -> list[Event]:
        """All events of a non-streaming request."""
        events: list[Event] = []
        async for batch in self.stream(req, observer):
            events.extend(batch)
        return events

    def _next(self, fallbacks: list[str]) -> Group | None:
        while fallbacks:
            group = self.names.resolve(fallbacks.pop(0))
            if group is not None:
                return group
        return None

    def _fallbacks(self, requested: str, group: str, error: LitecursorError) -> tuple[str, ...]:
        s = self.settings
        default: tuple[str, ...] = ()
        if isinstance(error, ContextWindowExceededError):
            table = s.context_window_fallbacks
        elif isinstance(error, ContentPolicyError):
            table = s.content_policy_fallbacks
        elif isinstance(error, InvalidRequestError):
            return ()  # the client's own mistake: another model would refuse it too
        else:
            table, default = s.fallbacks, s.default_fallbacks
        names = table.get(requested) or table.get(group) or default
        return tuple(n for n in names if n not in (requested, group))

    # -- choosing -------------------------------------------------------------------------

    def _pick(self, group: Group, tried: list[str]) -> Deployment:
        now = self.clock.now()
        deployments = group.deployments
        views = self.state.view([d.id for d in deployments], now)
        free: list[strategies.Candidate] = []
        why: list[tuple[str, float]] = []
        for d, s in zip(deployments, views, strict=True):
            b = strategies.blocked(d, s, now)
            if b is None:
                free.append((d, s))
            else:
                why.append(b)
        if not free:
            raise none_available(group, why)
        fresh = [c for c in free if c[0].id not in tried] or free
        return strategies.choose(
            self.settings.routing_strategy,
            strategies.preferred(fresh),
            self.rng,
            self.settings.lowest_latency_buffer,
        )

    def _wait(
        self, e: LitecursorError, n: int, group: Group, tried: list[str], hint: float | None
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up on the group: no wait
        when an untried deployment can take it; else jittered exponential backoff, at least
        the upstream's retry-after and until a cooling deployment is back, within
        `max_retry_wait`."""
        s = self.settings
        now = self.clock.now()
        views = self.state.view([d.id for d in group.deployments], now)
        soonest: float | None = None
        for d, v in zip(group.deployments, views, strict=True):
            b = strategies.blocked(d, v, now)
            if b is None and d.id not in tried:
                return s.retry_after
            wait = 0.0 if b is None else b[1]
            soonest = wait if soonest is None else min(soonest, wait)
        if isinstance(e, RateLimitError) and e.retry_after is not None:
            hint = e.retry_after
        backoff = min(BACKOFF_MAX, BACKOFF_BASE * 2**n) * (0.5 + self.rng.random() / 2)
        wait = max(s.retry_after, backoff, hint or 0.0, soonest or 0.0)
        return None if wait > s.max_retry_wait else wait

    # -- one attempt ----------------------------------------------------------------------

    async def run(
        self,
        d: Deployment,
        req: ChatRequest,
        observer: RouteObserver | None = None,
        progress: _Run | None = None,
    ) -> AsyncIterator[list[Event]]:
        """One attempt at one deployment. A `StreamError` before any event was yielded is
        raised instead, so the caller can still retry or answer with a status code."""
        run = progress or _Run()
        run.hint = None
        observer = observer or Unobserved()
        provider = get_provider(d.adapter)
        req = observer.before_upstream(d, drop_params(req, d.drop_params))
        state, clock = self.state, self.clock
        start = clock.now()
        state.begin(d.id, start)
        yielded = False
        ended = False
        last: list[Event] = []
        try:
            timeouts = self.timeouts(d, req.stream)
            observer.attempt_deadline(asyncio.get_running_loop().time() + timeouts.total)
            async with AsyncExitStack() as exchange:
                resp, target = await self._send(exchange, d, provider, req, run, timeouts)
                if not req.stream:
                    body = await resp.read(self.config.limits.max_response_bytes)
                    last = provider.decode_response(body, req, target)
                    raise_early_error(last)
                    state.latency(d.id, clock.now() - start)
                    run.yielded = True
                    yield last
                else:
                    decoder = provider.open_decoder(req, target, self.config.limits.max_event_bytes)
                    del req  # the decoder has what it needs (see `_Run.request`)
                    async for data in resp.chunks():
                        events = decoder.feed(data)
                        if events:
                            if not yielded:
                                raise_early_error(events)
                                yielded = run.yielded = True
                                run.request = None
                                state.latency(d.id, clock.now() - start)
                            last = events
                            yield events
                    events = decoder.close()
                    if events:
                        if not yielded:
                            raise_early_error(events)
                            yielded = run.yielded = True
                        last = events
                        yield events
            failure = next((ev.error for ev in last if isinstance(ev, StreamError)), None)
            if failure is not None:
                self.redact.error(failure)
                # the upstream broke the stream in-band after it started: the caller reports
                # it to the client; it still counts against the deployment
                self._failed(d, failure.message, failure.upstream_status, failure)
            ended = True
            observer.attempt_ended(failure)
        except LitecursorError as e:
            ended = True
            self.redact.error(e)
            observer.attempt_ended(e)
            if counts_against(e, d):
                self._failed(d, e.message, e.upstream_status, e, run.hint)
            raise
        finally:
            if not ended:  # cancelled, or the caller stopped reading
                observer.attempt_ended(None, cancelled=True)
            state.end(d.id)

    async def _send(
        self,
        exchange: AsyncExitStack,
        d: Deployment,
        provider: Provider,
        req: ChatRequest,
        run: _Run,
        timeouts: Timeouts,
    ) -> tuple[UpstreamResponse, Target]:
        """Sends `req` to `d` (the response entered on `exchange`) and returns the answer with
        the target it was asked with. An error status is raised as the provider's error,
        unless the provider knows another way to ask the model (`Provider.retarget`): then
        `req` goes again that way, once, and the model is asked that way from then on."""
        target = self.learned.get(d.id, d.target)
        auth = self.auth.get(d.id)
        retried = False
        while True:
            opened = self.client.open(provider.build_request(req, target), timeouts, auth)
            resp = await exchange.enter_async_context(opened)
            if resp.status < 400:
                return resp, target
            body = await resp.read_start(ERROR_BODY)
            run.hint = retry_after_seconds(resp.headers)
            error = self.redact.error(provider.decode_error(resp.status, resp.headers, body))
            better = None if retried else provider.retarget(error, req, target)
            if better is None:
                raise error
            await exchange.aclose()  # the refusal is read: its connection goes back to the pool
            self._learn(d, provider, error, req)
            target, retried = better, True

    def _learn(
        self, d: Deployment, provider: Provider, error: LitecursorError, req: ChatRequest
    ) -> None:
        """Every deployment of `d`'s model is asked the way its refusal taught."""
        log.warning(
            "deployment '%s': model %s refused the request as sent (%s); asking it another way "
            "from now on",
            d.id, d.target.model, error.message,
        )  # fmt: skip
        for other in self.config.deployments:
            if other.adapter == d.adapter and other.target.model == d.target.model:
                current = self.learned.get(other.id, other.target)
                better = provider.retarget(error, req, current)
                if better is not None:
                    self.learned[other.id] = better

    def _failed(
        self,
        d: Deployment,
        message: str,
        status: int | None,
        e: LitecursorError | None,
        hint: float | None = None,
    ) -> None:
        """Count a failure against `d`; cool it down at once on 401/404/429, or after
        `allowed_fails` failures within a minute."""
        now = self.clock.now()
        message = self.redact(message)  # kept for the health endpoint and cooldown alerts
        fails = self.state.failure(d.id, RecentError(now, status, message[:300]))
        s = self.settings
        if s.disable_cooldowns or d.id not in self._coolable:
            return
        if status in IMMEDIATE_COOLDOWN:
            if isinstance(e, RateLimitError) and e.retry_after is not None:
                hint = e.retry_after
            # an upstream that says when it is ready again is believed
            seconds = hint if status == 429 and hint is not None else s.cooldown_time
        elif fails >= s.allowed_fails:
            seconds = s.cooldown_time
        else:
            return
        seconds = min(seconds, MAX_COOLDOWN)
        already = self.on_cooldown and self.state.view([d.id], now)[0].cooling(now)
        self.state.cool(d.id, now + seconds)
        if self.on_cooldown and not already:
            event = Cooldown(d, seconds, status, message[:300])
            for callback in self.on_cooldown:
                try:
                    callback(event)
                except Exception:
                    log.exception("on_cooldown callback failed for %s", d.id)

    def record_usage(self, deployment_id: str, tokens: int) -> None:
        """Tokens a finished request used on a deployment, for its `tpm` limit."""
        self.state.tokens(deployment_id, tokens, self.clock.now())

    # -- health ---------------------------------------------------------------------------

    def health(self) -> list[DeploymentHealth]:
        now = self.clock.now()
        deployments = self.config.deployments
        views = self.state.view([d.id for d in deployments], now)
        out = []
        for d, s in zip(deployments, views, strict=True):
            b = strategies.blocked(d, s, now)
            out.append(
                DeploymentHealth(
                    d,
                    s,
                    max(0.0, s.cooldown_until - now),
                    at_limit=b is not None and b[0] == "limit",
                )
            )
        return out


def _for(group: Group, d: Deployment, req: ChatRequest) -> ChatRequest:
    """The request as deployment `d` of `group` gets it: a variant name's suffix applied
    (`gpt-5.4-thinking-high`: its effort; `-fast`: the priority tier)."""
    if group.variant is None:
        return req
    return group.variant.apply(req, d.target.defaults.reasoning_effort)


__all__ = [
    "Cooldown",
    "DeploymentHealth",
    "RouteObserver",
    "Router",
    "Unobserved",
    "UpstreamResponse",
    "drop_params",
]
