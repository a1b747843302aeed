"""The accounting listener: virtual keys at authentication, models, rate limits and budgets at
admission, the cost when the answer is complete, one spend row per request at finish.

Nothing here awaits the database for a key it knows: keys come from the `KeyCache`, budgets
from the `Budgets` ledger (or one conditional UPDATE when instances share a database), rate
limits from memory (or one Redis script when Redis is configured), and rows go to the spend
writer's queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..config.accounting import AccountingSettings
from ..errors import (
    BudgetExceededError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from ..pipeline import Call, Identity, Outcome
from ..protocol.types import ChatRequest
from ..requestlog.bodies import Bodies
from ..router import Router
from ..router.names import Group
from ..store import BudgetRef, StoreError
from ..store.tokens import MIN_CUSTOM_LENGTH
from . import limits
from .budgets import PROXY, Budgets, EndUsers, Refusal
from .keycache import KeyCache
from .limits import Limiter, MemoryLimiter, Scope
from .plan import KeyPlan, who
from .prices import FREE, Bill, Prices, bill, prompt_chars
from .quiet import Throttled
from .rows import spend_row
from .writer import SpendWriter

log = logging.getLogger("litecursor.keys")
warn = Throttled(log)

#: the key of this listener's state in `Call.notes`
NOTE = "accounting"


@dataclass(slots=True, eq=False)
class Ticket:
    """One request's accounting: what it reserved and acquired, and its bill."""

    prompt: int
    refs: Sequence[BudgetRef] = ()
    aliases: dict[BudgetRef, str | None] = field(default_factory=dict)
    reserved: float = 0.0
    #: reserved in the database (given back with the request's charges)
    held: bool = False
    scopes: Sequence[Scope] = ()
    limiter: Limiter | None = None
    bill: Bill = FREE


class Accounting:
    """The listener (`authenticate`, `list_models`, `admit`, `answered`, `finish`)."""

    def __init__(
        self,
        settings: AccountingSettings,
        router: Router,
        *,
        keys: KeyCache,
        budgets: Budgets,
        limiter: Limiter,
        writer: SpendWriter,
        prices: Prices,
        end_users: EndUsers | None = None,
        quiet_routes: frozenset[str] = frozenset(),
        bodies: Bodies | None = None,
    ) -> None:
        self.router = router
        self.keys = keys
        self.budgets = budgets
        self.limiter = limiter
        self.writer = writer
        self.prices = prices
        self.end_users = end_users
        #: routes that get no row (liveness probes, as they get no access line)
        self.quiet_routes = quiet_routes
        #: what a row keeps of prompts and answers, and credentials out of its error texts
        self.bodies = bodies
        self._local = limiter if isinstance(limiter, MemoryLimiter) else MemoryLimiter()
        self._plans: dict[str, KeyPlan] = {}
        s = settings
        self._proxy_scope = (
            (Scope("proxy", rpm=s.rpm_limit, parallel=s.max_parallel_requests),)
            if s.rpm_limit is not None or s.max_parallel_requests is not None
            else ()
        )
        self._proxy_limited = s.max_budget is not None
        self.no_rows = s.disable_spend_logs

    # -- who is calling ------------------------------------------------------------------

    async def authenticate(self, call: Call, token: str) -> Identity | None:
        """A virtual key's identity; None (so 401, alike for all three) for a token that is
        no key, a blocked key (or team) and an expired key."""
        if len(token) < MIN_CUSTOM_LENGTH:
            return None  # no key is this short: not worth a lookup
        try:
            found = await self.keys.identify(token)
        except StoreError as e:
            warn.warning("lookup", "cannot look up a new key: %s", e)
            raise ServiceUnavailableError(
                "cannot check the API key now: the key database is unreachable; retry shortly",
                headers={"retry-after": "5"},
            ) from None
        if found is None:
            return None
        plan = self._plans.get(found.key.token)
        if plan is None or plan.source is not found:
            plan = self._plans[found.key.token] = KeyPlan(found, self.budgets)
        if plan.blocked or (plan.expires_at is not None and plan.expires_at <= time.time()):
            return None
        return plan.identity

    # -- may they ------------------------------------------------------------------------

    def list_models(self, call: Call, names: list[str]) -> list[str]:
        """The names of `names` a key whose key, user or team lists models may call, then
        the names those lists give that it may call and `names` lacks (an alias, one model
        of a wildcard group): admission's own decision, asked of each name."""
        plan = _plan(call)
        if plan is None or not plan.models:
            return names
        resolve = self.router.names.resolve
        visible: list[str] = []
        for name in dict.fromkeys([*names, *plan.named_models()]):
            try:
                group = resolve(name)
            except InvalidRequestError:  # a listed name no provider could be sent
                continue
            if group is not None and plan.refusing(name, group) is None:
                visible.append(name)
        return visible

    async def admit(self, call: Call, req: ChatRequest) -> None:
        now = time.time()
        plan = _plan(call)
        ticket = Ticket(prompt_chars(req, call.request_bytes))
        call.notes[NOTE] = ticket
        group: Group | None = None
        if plan is not None and plan.models:
            group = self.router.names.resolve(req.model)
            _check_models(plan, req.model, group)
        refs: list[BudgetRef] = []
        limited: list[BudgetRef] = []
        aliases = ticket.aliases
        if plan is not None:
            refs += plan.refs
            limited += plan.limited
            aliases.update(plan.aliases)
        if self.end_users is not None and call.end_user:
            try:
                ref = await self.end_users.ref(call.end_user)
            except StoreError as e:
                warn.warning("end_user", "end users' budgets not checked: %s", e)
            else:
                refs.append(ref)
                limited.append(ref)
                aliases[ref] = None
        refs.append(PROXY)
        if self._proxy_limited:
            limited.append(PROXY)
        scopes = (plan.scopes if plan is not None else ()) + self._proxy_scope
        if scopes:
            call.headers.update(limits.headers(await self._acquire(ticket, scopes, now), now))
        ticket.refs = refs
        if not limited:
            return
        group = group or self.router.names.resolve(req.model)
        amount = self.prices.estimate(
            group.deployments if group else (), ticket.prompt, req.max_tokens
        )
        try:
            refusal = await self.budgets.reserve(
                call.request_id, refs, limited, amount, aliases, now
            )
        except StoreError as e:
            # the shared database is away: serve (spend still reaches the budgets once the
            # queued charges are written) rather than refuse every request
            warn.warning("reserve", "budgets admitted without a reservation: %s", e)
            return
        if refusal is not None:
            if ticket.limiter is not None:
                ticket.limiter.release(ticket.scopes, 0, now)
                ticket.scopes = ()
            ticket.refs = ()
            raise _budget_error(refusal, aliases.get(refusal.ref))
        ticket.reserved = amount
        ticket.held = self.budgets.shared

    async def _acquire(
        self, ticket: Ticket, scopes: tuple[Scope, ...], now: float
    ) -> list[limits.Usage]:
        """Count the request on every scope (429 when one is full). When Redis fails, the
        limits hold per process until it is back, rather than not at all."""
        limiter = self.limiter
        try:
            usages = await limiter.acquire(scopes, now)
        except RateLimitError:
            raise
        except Exception as e:  # Redis unreachable or failing
            if limiter is self._local:
                raise
            warn.warning("redis", "rate limits counted per process while Redis fails: %s", e)
            limiter = self._local
            usages = await limiter.acquire(scopes, now)
        ticket.scopes = scopes
        ticket.limiter = limiter
        return usages

    # -- what it cost --------------------------------------------------------------------

    def answered(self, call: Call) -> None:
        ticket = call.notes.get(NOTE)
        prompt = ticket.prompt if isinstance(ticket, Ticket) else call.request_bytes
        d = call.deployment
        b = bill(
            call.usage,
            call.upstream_done,
            call.output_chars,
            prompt,
            self.prices.of(d) if d is not None else None,
        )
        call.cost = b.cost
        if isinstance(ticket, Ticket):
            ticket.bill = b
        if not call.stream:
            call.headers["x-litecursor-response-cost"] = money(b.cost)

    def finish(self, call: Call, outcome: Outcome) -> None:
        ticket = call.notes.get(NOTE)
        now = time.time()
        b = FREE
        charges = []
        release = None
        if isinstance(ticket, Ticket):
            b = ticket.bill
            if ticket.refs:
                charges = self.budgets.settle(
                    ticket.refs, ticket.reserved, b.cost, ticket.aliases, now
                )
            if ticket.limiter is not None and ticket.scopes:
                tokens = b.usage.total_tokens if b.usage is not None else 0
                ticket.limiter.release(ticket.scopes, tokens, now)
            if ticket.held:
                release = call.request_id
        if (
            self.no_rows
            or call.quiet
            or call.method == "OPTIONS"
            or call.route in self.quiet_routes
        ):
            # liveness probes, CORS preflights and the admin page's own files and reads get
            # no row, as no access line
            if charges or release:
                self.writer.put(None, charges, release)
            return
        self.writer.put(spend_row(call, outcome, b, self.bodies), charges, release)


def money(cost: float) -> str:
    """US dollars in plain decimal notation (never `1e-05`)."""
    return f"{cost:.10f}".rstrip("0").rstrip(".") or "0"


def usd(x: float) -> str:
    """Dollars for a message: cents for large sums, more digits for the small ones budgets
    of a few requests deal in ($0.00144, not $0.00)."""
    if abs(x) >= 10:
        return f"${x:,.2f}"
    text = f"{x:.6f}".rstrip("0")
    return "$" + (text + "0" * (2 - len(text.split(".")[1])))


def _plan(call: Call) -> KeyPlan | None:
    """The calling virtual key's plan (None for the master key and other identities)."""
    ident = call.identity
    record = ident.record if ident is not None else None
    return record if isinstance(record, KeyPlan) else None


def _check_models(plan: KeyPlan, model: str, group: Group | None) -> None:
    """403 naming the model and the ones allowed, when the key, its user or its team lists
    models and this is none of them."""
    refused = plan.refusing(model, group)
    if refused is not None:
        owner, allowed = refused
        raise PermissionDeniedError(
            f"model '{model}' is not allowed for {owner}; allowed models: {', '.join(allowed)}",
            param="model",
            code="model_not_allowed",
        )


def _budget_error(r: Refusal, alias: str | None) -> BudgetExceededError:
    owner = who(r.ref, alias)
    held = f", with ${r.reserved:.4f} more reserved by requests under way" if r.reserved > 0 else ""
    if r.reset_at is not None:
        reset = datetime.fromtimestamp(r.reset_at, UTC).isoformat(timespec="seconds")
        reset = reset.replace("+00:00", "Z")
        when = f"; it resets at {reset}"
    else:
        reset = None
        when = "; it does not reset (no budget_duration)"
    setting = " (litellm_settings.max_budget)" if r.ref.kind == "proxy" else ""
    return BudgetExceededError(
        f"Budget exceeded: {owner} has spent {usd(r.spend)} of its {usd(r.max_budget)} "
        f"budget{setting}{held}{when}",
        budget=r.ref.kind,
        spend=round(r.spend, 10),
        max_budget=r.max_budget,
        reset_at=reset,
    )
