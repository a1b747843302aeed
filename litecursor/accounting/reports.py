"""Spend rows and reports in LiteLLM's shapes, and the query parameters that select them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidRequestError
from ..store import SpendQuery, SpendRow, SpendTotal
from ..store.periods import DurationError, parse_duration
from ..store.records import GROUP_BY, GroupBy
from ..store.tokens import token_of
from .manage import iso

MAX_PAGE = 1000


def parse_time(value: str, name: str, *, end: bool = False) -> float:
    """`2026-05-01` (a whole day: its end when `end`), an ISO date-time, or epoch seconds."""
    try:
        if len(value) == 10 and value[4] == "-":
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
            return day + 86400 if end else day
        if value.replace(".", "", 1).isdigit():
            return float(value)
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    except ValueError:
        raise InvalidRequestError(
            f"{name} must be a date (2026-05-01), an ISO date-time (2026-05-01T10:00:00Z) or "
            f"epoch seconds, not '{value}'",
            param=name,
        ) from None


def since(value: str, now: float | None = None) -> float:
    """`7d`, `12h`, `1mo` ago, or a date."""
    now = time.time() if now is None else now
    try:
        d = parse_duration(value)
    except DurationError:
        return parse_time(value, "since")
    fixed = d.seconds
    if fixed is not None:
        return now - fixed
    from ..store.periods import add_months

    return add_months(now, -d.count)


def encode_cursor(row: SpendRow) -> str:
    return f"{row.start_time!r}_{row.request_id}"


def spend_query(q: Mapping[str, str]) -> SpendQuery:
    """`/spend/logs` parameters: LiteLLM's (`request_id`, `api_key`, `user_id`, `start_date`,
    `end_date`) and `team_id`, `end_user`, `key_alias`, `model`, `limit`, `cursor`."""
    limit_raw = q.get("limit", "100")
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= MAX_PAGE:
        raise InvalidRequestError(
            f"limit must be a whole number from 1 to {MAX_PAGE}", param="limit"
        )
    before = None
    if cursor := q.get("cursor"):
        t, _, rid = cursor.partition("_")
        try:
            before = (float(t), rid)
        except ValueError:
            raise InvalidRequestError(
                "cursor is not one this server gave", param="cursor"
            ) from None
    key = q.get("api_key")
    return SpendQuery(
        request_id=q.get("request_id"),
        key_hash=token_of(key) if key else None,
        key_alias=q.get("key_alias"),
        user_id=q.get("user_id"),
        team_id=q.get("team_id"),
        end_user=q.get("end_user"),
        model=q.get("model"),
        start=parse_time(q["start_date"], "start_date") if q.get("start_date") else None,
        end=parse_time(q["end_date"], "end_date", end=True) if q.get("end_date") else None,
        before=before,
        limit=int(limit_raw),
    )


def spend_row(r: SpendRow) -> dict[str, Any]:
    """A spend row as LiteLLM's `/spend/logs` shows one, with litecursor's extra fields."""
    return {
        "request_id": r.request_id,
        "api_key": r.key_hash,
        "key_alias": r.key_alias,
        "user": r.user_id,
        "team_id": r.team_id,
        "end_user": r.end_user,
        "model": r.model,
        "model_group": r.model_group,
        "model_id": r.deployment,
        "custom_llm_provider": r.provider,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.total_tokens,
        "cached_tokens": r.cached_tokens,
        "cache_creation_tokens": r.cache_write_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "spend": r.spend,
        "estimated": r.estimated,
        "startTime": iso_ms(r.start_time),
        "endTime": iso_ms(r.end_time),
        "completionStartTime": None
        if r.ttft_ms is None
        else iso_ms(r.start_time + r.ttft_ms / 1000),
        "request_duration_ms": r.latency_ms,
        "status": "success" if r.status < 400 and r.error_type is None else "failure",
        "status_code": r.status,
        "error_type": r.error_type,
        "stream": r.stream,
        "conversation_id": r.conversation_id,
        "metadata": dict(r.metadata),
    }


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def group_by(value: str | None) -> GroupBy:
    v = value or "key"
    v = {"api_key": "key", "customer": "end_user"}.get(v, v)
    for g in GROUP_BY:
        if g == v:
            return g
    raise InvalidRequestError(
        f"group_by must be one of {', '.join(GROUP_BY)}, not '{value}'", param="group_by"
    )


def report_rows(by: GroupBy, totals: list[SpendTotal]) -> list[dict[str, Any]]:
    out = []
    for t in totals:
        row: dict[str, Any] = {"group_by": by, by: t.group}
        if by == "key":
            row["key_alias"] = t.alias
        row |= {
            "spend": t.spend,
            "requests": t.requests,
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
            "cached_tokens": t.cached_tokens,
        }
        out.append(row)
    return out


__all__ = ["encode_cursor", "group_by", "iso", "report_rows", "since", "spend_query", "spend_row"]
