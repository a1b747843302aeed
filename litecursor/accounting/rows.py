"""One spend row per request, from its `Call` and `Outcome`: the spend log and the request log in one."""

from __future__ import annotations

from ..pipeline import Call, Outcome
from ..requestlog.bodies import Bodies
from ..store import SpendRow
from ..store.records import Attempt
from ..store.sql_activity import MASTER
from .prices import Bill

#: error messages are kept this long in a row (upstream bodies can be long)
MAX_ERROR = 2000
MAX_AGENT = 512


def _same(text: str) -> str:
    return text


def spend_row(call: Call, outcome: Outcome, bill: Bill, bodies: Bodies | None = None) -> SpendRow:
    """The row for a finished request. Times are wall-clock seconds: the call's start, plus
    the monotonic durations measured while it ran. Error texts (an upstream's words, which may
    echo a credential) pass through the request log's redactor before they are kept, and so do
    the prompt and the answer, when the call kept them (`store_prompts_in_spend_logs`)."""
    redact = bodies.redact if bodies is not None else _same
    ident = call.identity
    key = ident is not None and not ident.is_master
    usage = bill.usage
    started = call.started
    first = outcome.first_byte_at
    error = outcome.error
    d = outcome.deployment
    attempts = tuple(
        Attempt(
            a.deployment_id,
            a.status,
            round(a.latency_ms, 3),
            None if a.error is None else redact(a.error[:MAX_ERROR]),
            round((a.started - call.started) * 1000, 3),
        )
        for a in outcome.attempts
    )
    request_body, response_body = (
        bodies.kept(call.request_body, call.response_body) if bodies is not None else (None, None)
    )
    return SpendRow(
        request_id=call.request_id,
        start_time=call.started_wall,
        end_time=call.started_wall + (outcome.ended_at - started),
        key_hash=ident.id if key and ident is not None else None,
        # the master key's rows have no hash: "master" tells them from requests with no key
        key_alias=(ident.alias if key else MASTER) if ident is not None else None,
        user_id=ident.user_id if ident is not None else None,
        team_id=ident.team_id if ident is not None else None,
        end_user=call.end_user,
        model=call.requested_model,
        model_group=outcome.model_group,
        deployment=d.id if d is not None else None,
        provider=d.target.provider if d is not None else None,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        cached_tokens=(usage.cached_tokens or 0) if usage else 0,
        cache_write_tokens=(usage.cache_creation_tokens or 0) if usage else 0,
        reasoning_tokens=(usage.reasoning_tokens or 0) if usage else 0,
        spend=bill.cost,
        estimated=bill.estimated,
        latency_ms=round((outcome.ended_at - started) * 1000, 3),
        ttft_ms=None if first is None else round((first - started) * 1000, 3),
        status=outcome.status,
        # the error's class from a fixed set, never a provider's own code
        error_type=None if error is None else error.default_code or error.error_type,
        error_message=None if error is None else redact(error.message[:MAX_ERROR]),
        conversation_id=call.conversation_id,
        route=call.route,
        client_ip=call.client,
        user_agent=call.user_agent[:MAX_AGENT] if call.user_agent else None,
        stream=call.stream,
        upstream_status=outcome.upstream_status,
        attempts=attempts,
        retries=max(0, len(attempts) - 1 - call.fallbacks),
        fallbacks=call.fallbacks,
        request_body=request_body,
        response_body=response_body,
        metadata={"client_gone": True} if outcome.client_gone else {},
    )
