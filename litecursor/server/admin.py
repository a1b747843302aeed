"""Admin routes: `GET /health/deployments`, each deployment's router state (master key only), and `GET /metrics`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from aiohttp import web

from ..errors import PermissionDeniedError
from ..observe.metrics import CONTENT_TYPE
from ..redaction import Redactor
from ..router import DeploymentHealth
from .keys import CALL, OBSERVE, REDACTOR, ROUTER


async def deployments_health(request: web.Request) -> web.Response:
    """Each deployment: healthy or cooling down until when, in flight, recent latency and
    errors, use this minute. Never a key, a header value or credentials in a URL."""
    identity = request[CALL].identity
    if identity is None or not identity.is_admin:
        raise PermissionDeniedError("/health/deployments needs the master key or an admin key")
    router = request.app[ROUTER]
    # the router's clock is monotonic: cooldown ends are shown as wall-clock times
    wall, mono = time.time(), router.clock.now()
    redact = request.app[REDACTOR]
    items = [_deployment(h, wall, mono, redact) for h in router.health()]
    cooling = sum(1 for i in items if i["status"] == "cooling_down")
    body = {"deployments": items, "healthy": len(items) - cooling, "cooling_down": cooling}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: the master key, or `litecursor_settings.metrics_token`."""
    identity = request[CALL].identity
    if identity is None or not (identity.is_master or identity.kind == "metrics"):
        raise PermissionDeniedError("/metrics needs the master key or the metrics token")
    body = request.app[OBSERVE].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _deployment(h: DeploymentHealth, wall: float, mono: float, redact: Redactor) -> dict[str, Any]:
    d, s = h.deployment, h.state
    cooling = h.cooldown_remaining > 0
    return {
        "id": d.id,
        "model_name": d.model_name,
        "model": d.litellm_model,
        "api_base": _public_url(d.target.api_base),
        "status": "cooling_down" if cooling else "healthy",
        "cooling_down_until": _iso(wall + (s.cooldown_until - mono)) if cooling else None,
        "cooldown_remaining_s": round(h.cooldown_remaining, 3),
        "at_limit": h.at_limit,
        "in_flight": s.in_flight,
        "latency_ms": None if s.latency is None else round(s.latency * 1000, 1),
        "requests_last_minute": s.requests,
        "tokens_last_minute": s.tokens,
        "fails_last_minute": s.fails,
        "limits": {"rpm": d.rpm, "tpm": d.tpm, "max_parallel_requests": d.max_parallel_requests},
        "recent_errors": [
            {"at": _iso(wall + (e.at - mono)), "status": e.status, "message": redact(e.message)}
            for e in s.errors
        ],
    }


def _public_url(url: str) -> str:
    """The URL without user info or query string, where credentials sometimes hide."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
