"""Cloud credentials for upstream requests: Google access tokens (Vertex AI), AWS SigV4 (Bedrock).

A deployment whose `auth` is set gets a `RequestAuth` when the router starts; the upstream
client calls its `apply` right before sending, which returns the request with its credentials
(a bearer token, a signature). Fetching and refreshing credentials is I/O and happens off the
request path where it can (see `refresh.Refreshing`); a failure is an `UpstreamCredentialsError`
(502) naming the deployment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .settings import AwsAuth, CloudAuth, GoogleAuth

if TYPE_CHECKING:
    import aiohttp

    from ..protocol.providers import HttpRequest

__all__ = ["AwsAuth", "CloudAuth", "GoogleAuth", "RequestAuth", "make_auth"]


class RequestAuth(Protocol):
    async def apply(self, http: HttpRequest) -> HttpRequest:
        """`http` with its credentials added."""
        ...

    def watch_secrets(self, learn: Callable[[str], None]) -> None:
        """Hand every secret obtained from now on (a token, temporary keys) to `learn`, so it
        is kept out of what leaves the process (see `redaction`)."""


def make_auth(auth: CloudAuth, deployment_id: str, session: aiohttp.ClientSession) -> RequestAuth:
    if isinstance(auth, GoogleAuth):
        from .google import GoogleTokenAuth

        return GoogleTokenAuth(auth, deployment_id, session)
    from .aws import AwsSigV4Auth

    return AwsSigV4Auth(auth, deployment_id)
