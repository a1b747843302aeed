"""AWS's credential endpoints inside a workload: container credentials (ECS, EKS Pod Identity) and EC2 instance metadata (IMDSv2).

Both hand out temporary keys the fake Bedrock accepts (they are added to its `AwsKeys`), with
the `Expiration` a test chooses, and answer as the real services do when a caller is not
allowed: the container endpoint wants the authorization token it was given (EKS Pod Identity;
ECS's endpoint takes none and ignores one), instance metadata wants an IMDSv2 session token on every read
(an instance with `HttpTokens: required`) and refuses a token request without its TTL header.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web

from .aws import AwsKeys

#: the path the fakes serve container credentials on (EKS Pod Identity's)
CONTAINER_PATH = "/v1/credentials"
IMDS_ROLE = "bedrock-gateway"
_CREDENTIALS = "/latest/meta-data/iam/security-credentials/"


def _temporary(keys: AwsKeys, lifetime: dt.timedelta) -> dict[str, str]:
    key = "ASIA" + secrets.token_hex(8).upper()
    secret, token = secrets.token_hex(20), secrets.token_hex(32)
    keys.add(key, secret, token)
    expires = (dt.datetime.now(dt.UTC) + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"AccessKeyId": key, "SecretAccessKey": secret, "Token": token, "Expiration": expires}


@dataclass
class ContainerCredentials:
    """`AWS_CONTAINER_CREDENTIALS_FULL_URI`'s server. `token`: the `Authorization` value it
    requires (None: it takes any request, as ECS's does)."""

    keys: AwsKeys
    token: str | None = None
    lifetime: dt.timedelta = dt.timedelta(hours=6)
    #: the Authorization header of each request ("" when absent)
    calls: list[str] = field(default_factory=list)
    #: access key ids handed out, in order
    issued: list[str] = field(default_factory=list)

    def make_app(self) -> web.Application:
        async def credentials(request: web.Request) -> web.Response:
            auth = request.headers.get("Authorization", "")
            self.calls.append(auth)
            if self.token is not None and auth != self.token:
                return web.json_response(
                    {"code": "AccessDeniedException", "message": "Invalid authorization token"},
                    status=401,
                )
            creds = _temporary(self.keys, self.lifetime)
            self.issued.append(creds["AccessKeyId"])
            return web.json_response(
                {**creds, "RoleArn": "arn:aws:iam::123456789012:role/bedrock-gateway"}
            )

        app = web.Application()
        app.router.add_get(CONTAINER_PATH, credentials)
        return app


@dataclass
class InstanceMetadata:
    """The instance metadata service with IMDSv2 required and one attached role."""

    keys: AwsKeys
    lifetime: dt.timedelta = dt.timedelta(hours=6)
    role: str = IMDS_ROLE
    #: IMDSv2 session tokens issued -> when they expire (time.monotonic)
    sessions: dict[str, float] = field(default_factory=dict)
    #: (method, path) of every request
    calls: list[tuple[str, str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def _authorised(self, request: web.Request) -> bool:
        token = request.headers.get("X-aws-ec2-metadata-token", "")
        return self.sessions.get(token, 0.0) > time.monotonic()

    def make_app(self) -> web.Application:
        async def token(request: web.Request) -> web.Response:
            self.calls.append((request.method, request.path))
            if "X-Forwarded-For" in request.headers:
                return web.Response(status=403)  # IMDS refuses proxied token requests
            try:
                ttl = int(request.headers["X-aws-ec2-metadata-token-ttl-seconds"])
            except (KeyError, ValueError):
                return web.Response(status=400)
            if not 1 <= ttl <= 21600:
                return web.Response(status=400)
            session = secrets.token_urlsafe(32)
            self.sessions[session] = time.monotonic() + ttl
            return web.Response(
                text=session, headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)}
            )

        async def roles(request: web.Request) -> web.Response:
            self.calls.append((request.method, request.path))
            if not self._authorised(request):
                return web.Response(status=401)
            return web.Response(text=self.role)

        async def role(request: web.Request) -> web.Response:
            self.calls.append((request.method, request.path))
            if not self._authorised(request):
                return web.Response(status=401)
            if request.match_info["role"] != self.role:
                return web.Response(status=404)
            creds = _temporary(self.keys, self.lifetime)
            self.issued.append(creds["AccessKeyId"])
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {"Code": "Success", "LastUpdated": now, "Type": "AWS-HMAC", **creds}
            # IMDS answers text/plain, JSON inside
            return web.json_response(body, content_type="text/plain")

        app = web.Application()
        app.router.add_put("/latest/api/token", token)
        app.router.add_get(_CREDENTIALS, roles)
        app.router.add_get(_CREDENTIALS + "{role}", role)
        return app
