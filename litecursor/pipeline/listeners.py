"""The listeners every gateway has: the master key (and the metrics token), and the router's token accounting."""

from __future__ import annotations

import hmac

from ..router import Router
from .call import MASTER, Call, Identity, Outcome


class MasterKey:
    """The config's master key is an identity with every right."""

    def __init__(self, master_key: str) -> None:
        self._key = master_key.encode()

    async def authenticate(self, call: Call, token: str) -> Identity | None:
        # constant time: the comparison must not tell how much of a guess was right
        return MASTER if hmac.compare_digest(token.encode(), self._key) else None


class MetricsToken:
    """`litecursor_settings.metrics_token` opens `GET /metrics` and nothing else."""

    ROUTE = "/metrics"

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def authenticate(self, call: Call, token: str) -> Identity | None:
        if call.route != self.ROUTE:
            return None
        return METRICS if hmac.compare_digest(token.encode(), self._token) else None


METRICS = Identity("metrics", kind="metrics")


class RouterUsage:
    """Tokens of each answered request count toward its deployment's `tpm`, once the
    request is over and its usage known."""

    def __init__(self, router: Router) -> None:
        self._router = router

    def finish(self, call: Call, outcome: Outcome) -> None:
        d, usage = outcome.deployment, outcome.usage
        if d is not None and usage is not None and usage.total_tokens > 0:
            self._router.record_usage(d.id, usage.total_tokens)
