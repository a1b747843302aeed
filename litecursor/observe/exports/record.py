"""The record each exporter receives for a request: one JSON object with stable fields, built once at finish.

The fields are an interface (README "Exports"): add fields, never rename or drop one. Nothing
in a record is a credential: the client's key appears as its alias or id (a hash), error
messages are cleaned of every secret the config holds (`redact`), and no header is copied.
Prompts and answers are not exported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ...pipeline import Call, Outcome
from ..logs import WallClock

Record = dict[str, Any]


def _host(url: str) -> str | None:
    """host[:port] of a URL: never its user info, path or query, where credentials hide."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host}:{port}" if port is not None else host


def request_record(
    call: Call, outcome: Outcome, redact: Callable[[str], str], clock: WallClock
) -> Record:
    d, usage, err, who = outcome.deployment, outcome.usage, outcome.error, call.identity
    first = outcome.first_byte_at
    end_wall = call.started_wall + (outcome.ended_at - call.started)
    return {
        "request_id": call.request_id,
        "start_time": clock.iso(call.started_wall),
        "start_unix": call.started_wall,
        "end_time": clock.iso(end_wall),
        "duration_ms": round((outcome.ended_at - call.started) * 1000, 3),
        "ttft_ms": round((first - call.started) * 1000, 3) if first is not None else None,
        "method": call.method,
        "route": call.route,
        "status": outcome.status,
        "success": outcome.ok,
        "stream": call.stream,
        "model": call.requested_model,
        "model_group": outcome.model_group,
        "deployment": d.id if d is not None else None,
        "provider": d.target.provider if d is not None else None,
        "upstream_model": d.target.model if d is not None else None,
        "upstream_host": _host(d.target.api_base) if d is not None else None,
        "response_id": call.response_id,
        "finish_reason": outcome.finish_reason,
        "usage": None
        if usage is None
        else {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cached_tokens": usage.cached_tokens,
            "cache_creation_tokens": usage.cache_creation_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
        },
        "cost": call.cost,
        "attempts": [
            {
                "deployment": a.deployment_id,
                "offset_ms": round((a.started - call.started) * 1000, 3),
                "status": a.status,
                "latency_ms": round(a.latency_ms, 3),
                "error": redact(a.error) if a.error else None,
                "error_kind": a.kind,
            }
            for a in outcome.attempts
        ],
        "error": None
        if err is None
        else {
            "message": redact(err.message),
            "type": err.error_type,
            "code": err.code,
            "kind": err.kind,
        },
        "client_gone": outcome.client_gone,
        "key": who.label if who is not None else None,
        "user_id": who.user_id if who is not None else None,
        "team_id": who.team_id if who is not None else None,
        "end_user": call.end_user,
        "conversation_id": call.conversation_id,
        "client_ip": call.client,
        "user_agent": call.user_agent,
    }
