"""What the store holds, as typed records: keys, users, teams, end users, budgets, spend rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: who a budget belongs to; `proxy` is the one proxy-wide budget (`litellm_settings.max_budget`)
BudgetKind = Literal["key", "user", "team", "end_user", "proxy"]
BUDGET_KINDS: tuple[BudgetKind, ...] = ("key", "user", "team", "end_user", "proxy")
PROXY_ID = "proxy"
#: a key, user or team allowed this may call every model (LiteLLM's spelling)
ALL_MODELS = "all-proxy-models"


@dataclass(frozen=True, slots=True)
class BudgetRef:
    kind: BudgetKind
    id: str


@dataclass(frozen=True, slots=True)
class Budget:
    """A spend counter and its limit. `reset_at` is when the current period ends (epoch
    seconds; None: the budget never resets); `reserved` is what admitted requests that have
    not finished yet may still spend (database reservations only)."""

    max_budget: float | None = None
    duration: str | None = None
    reset_at: float | None = None
    spend: float = 0.0
    reserved: float = 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None

    @property
    def any(self) -> bool:
        return (
            self.rpm_limit is not None
            or self.tpm_limit is not None
            or self.max_parallel_requests is not None
        )


def allows(models: tuple[str, ...], model: str, group: str | None = None) -> bool:
    """An empty list, or `all-proxy-models`, allows every model."""
    if not models or ALL_MODELS in models:
        return True
    return model in models or (group is not None and group in models)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    #: SHA-256 of the key, hex: the only form in which a key is stored
    token: str
    #: what may be shown of the key: `sk-...` and its last four characters
    key_name: str
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    models: tuple[str, ...] = ()
    limits: Limits = Limits()
    budget: Budget = Budget()
    expires_at: float | None = None
    blocked: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class UserRecord:
    user_id: str
    user_alias: str | None = None
    user_email: str | None = None
    team_id: str | None = None
    models: tuple[str, ...] = ()
    limits: Limits = Limits()
    budget: Budget = Budget()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class TeamRecord:
    team_id: str
    team_alias: str | None = None
    models: tuple[str, ...] = ()
    limits: Limits = Limits()
    budget: Budget = Budget()
    blocked: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class EndUserRecord:
    """A client's own user id (Cursor's opaque per-user hash in `user`)."""

    end_user_id: str
    budget: Budget = Budget()
    blocked: bool = False
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at one deployment, as the request log keeps it."""

    deployment: str
    status: int | None
    latency_ms: float
    error: str | None = None
    #: when it started, in ms from the request's start (None: not recorded)
    offset_ms: float | None = None


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One request: its spend, and what the request log (issue 12) shows of it.

    The spend columns are LiteLLM's; the request-log columns ride on the same row so that the
    log is this table, not a second one. Times are epoch seconds; keyset paging goes by
    (`start_time`, `request_id`)."""

    request_id: str
    start_time: float
    end_time: float
    key_hash: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    end_user: str | None = None
    #: what the client asked for, the group that served it, the deployment that answered
    model: str | None = None
    model_group: str | None = None
    deployment: str | None = None
    provider: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    spend: float = 0.0
    #: tokens were estimated from the text because the upstream never said (a cut stream)
    estimated: bool = False
    latency_ms: float | None = None
    ttft_ms: float | None = None
    #: the status the client got, and the error's type and message when it failed
    status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    conversation_id: str | None = None
    # -- the request log's own columns ---------------------------------------------------
    route: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    stream: bool = False
    upstream_status: int | None = None
    attempts: tuple[Attempt, ...] = ()
    retries: int = 0
    fallbacks: int = 0
    request_body: str | None = None
    response_body: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class SpendQuery:
    """Filters and a keyset page of spend rows, newest first. `before` is the
    (`start_time`, `request_id`) of the last row of the previous page."""

    request_id: str | None = None
    key_hash: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    end_user: str | None = None
    model: str | None = None
    status: int | None = None
    #: True: only requests that failed (an error message); False: only those that did not
    failed: bool | None = None
    error_text: str | None = None
    #: only the master key's requests ("master"), or only those made with no key at all, the
    #: refused ones ("none"); neither has a key hash
    caller: str | None = None
    start: float | None = None
    end: float | None = None
    before: tuple[float, str] | None = None
    limit: int = 100


GroupBy = Literal["key", "user", "team", "model", "end_user"]
GROUP_BY: tuple[GroupBy, ...] = ("key", "user", "team", "model", "end_user")


@dataclass(frozen=True, slots=True)
class SpendTotal:
    """One line of a spend report."""

    group: str | None
    #: the key's alias (group_by=key), else None
    alias: str | None
    requests: int
    spend: float
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
