"""Google OAuth2 access tokens for Vertex AI: service-account JWTs, refresh tokens, the metadata server.

Written on aiohttp and `cryptography` rather than taken from google-auth, whose transports are
synchronous (requests) and would need a thread per refresh: a token is one signed JWT (RS256)
or one form POST, and the gateway already holds an HTTP client and an RSA implementation.
Tokens are cached by `Refreshing` and refreshed five minutes before they expire.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import UpstreamCredentialsError
from ..protocol.providers import HttpRequest
from .refresh import Refreshing
from .settings import CLOUD_PLATFORM, AuthorizedUser, GoogleAuth, MetadataServer, ServiceAccount

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = 3600  # the most Google accepts
_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """The service account's RSA key; ValueError when it is not one."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private_key is not an RSA key")
    return key


def signed_jwt(sa: ServiceAccount, key: rsa.RSAPrivateKey, now: float) -> str:
    """The assertion of the JWT-bearer grant (RFC 7523), as Google's token endpoint wants it."""
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if sa.private_key_id:
        header["kid"] = sa.private_key_id
    iat = int(now)
    claims = {
        "iss": sa.client_email,
        "scope": CLOUD_PLATFORM,
        "aud": sa.token_uri,
        "iat": iat,
        "exp": iat + JWT_LIFETIME,
    }
    signing_input = _b64url(orjson.dumps(header)) + b"." + _b64url(orjson.dumps(claims))
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64url(signature)).decode()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class GoogleTokenAuth:
    """Adds `Authorization: Bearer <access token>` to a Vertex request."""

    def __init__(
        self,
        auth: GoogleAuth,
        deployment_id: str,
        session: aiohttp.ClientSession,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._creds = auth.credentials
        self._session = session
        self._wall = wall_clock
        self._key = (
            load_private_key(self._creds.private_key)
            if isinstance(self._creds, ServiceAccount)
            else None
        )
        self._what = f"deployment '{deployment_id}': no Google access token ({auth.origin})"
        self.tokens = Refreshing(self._fetch, what=self._what)

    def watch_secrets(self, learn: Callable[[str], None]) -> None:
        self.tokens.on_refresh = learn

    async def apply(self, http: HttpRequest) -> HttpRequest:
        token = await self.tokens.get()
        headers = {**http.headers, "authorization": f"Bearer {token}"}
        return HttpRequest(http.method, http.url, headers, http.body)

    async def _fetch(self) -> tuple[str, float | None]:
        creds = self._creds
        if isinstance(creds, MetadataServer):
            url = f"http://{creds.host}/computeMetadata/v1/instance/service-accounts/default/token"
            request = self._session.get(
                url, headers={"metadata-flavor": "Google"}, timeout=_TIMEOUT
            )
        else:
            if isinstance(creds, ServiceAccount):
                assert self._key is not None
                form = {"grant_type": JWT_BEARER,
                        "assertion": signed_jwt(creds, self._key, self._wall())}  # fmt: skip
            else:
                assert isinstance(creds, AuthorizedUser)
                form = {"grant_type": "refresh_token", "client_id": creds.client_id,
                        "client_secret": creds.client_secret,
                        "refresh_token": creds.refresh_token}  # fmt: skip
            url = creds.token_uri
            request = self._session.post(url, data=form, timeout=_TIMEOUT)
        try:
            async with request as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise UpstreamCredentialsError(
                f"{self._what}: cannot reach {_origin(url)}: {str(e) or type(e).__name__}"
            ) from None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if status != 200 or not isinstance(data, dict) or not data.get("access_token"):
            raise UpstreamCredentialsError(
                f"{self._what}: {_origin(url)} answered {status}: {_token_error(data, body)}"
            )
        ttl = data.get("expires_in")
        return str(data["access_token"]), float(ttl) if isinstance(ttl, int | float) else 3600.0


def _token_error(data: Any, body: bytes) -> str:
    """`error: error_description` of an OAuth2 error (never a token: errors carry none)."""
    if isinstance(data, dict) and data.get("error"):
        err = data["error"]
        if isinstance(err, dict):  # Google APIs' own error shape
            return str(err.get("message") or err.get("status") or err)[:300]
        desc = data.get("error_description")
        return f"{err}: {desc}"[:300] if desc else str(err)[:300]
    if isinstance(data, dict):
        return "no access_token in the answer"
    return body.decode("utf-8", "replace").strip()[:300] or "an empty answer"
