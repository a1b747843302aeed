"""AWS credentials and SigV4 signing for Bedrock, by botocore (the optional `bedrock` extra).

botocore's credential chain is the one every AWS SDK user knows (environment, shared config
and credentials files with profiles, SSO, credential_process, container and instance
metadata, web identity), and its assume-role fetcher refreshes STS credentials before they
expire. Both are synchronous and may do network I/O, so they run in a worker thread; the event
loop only ever reads the cached frozen credentials and signs (hashing, no I/O).

botocore refreshes refreshable credentials itself, 10-15 minutes before they expire; the
cached copy here is read again from botocore every two minutes (in the background), so a
request never carries credentials botocore would no longer hand out.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from typing import Any

from ..errors import UpstreamCredentialsError
from ..protocol.providers import HttpRequest
from .refresh import Refreshing
from .settings import AwsAuth, WebIdentityToken

#: seconds between reads of botocore's refreshable credentials
REREAD = 120.0
EXTRA = "pip install 'litecursor[bedrock]'"


def botocore_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("botocore") is None


def sign(http: HttpRequest, creds: Any, region: str, service: str = "bedrock") -> HttpRequest:
    """`http` with SigV4 headers (`Authorization`, `X-Amz-Date`, the session token). The URL
    must be sent exactly as signed (percent-encoding included)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    req = AWSRequest(method=http.method, url=http.url, data=http.body, headers=dict(http.headers))
    SigV4Auth(creds, service, region).add_auth(req)
    return HttpRequest(http.method, http.url, dict(req.headers.items()), http.body)


class AwsSigV4Auth:
    """Signs each Bedrock request with the deployment's current AWS credentials."""

    def __init__(self, auth: AwsAuth, deployment_id: str) -> None:
        self._auth = auth
        self._source: Any = None  # botocore Credentials, made on the first fetch (in a thread)
        self._what = f"deployment '{deployment_id}': no AWS credentials"
        self.credentials = Refreshing(self._fetch, what=self._what, early=REREAD / 2, must=0.0)

    def watch_secrets(self, learn: Callable[[str], None]) -> None:
        def temporary_keys(creds: Any) -> None:
            for secret in (creds.secret_key, creds.token):
                if secret:
                    learn(secret)

        self.credentials.on_refresh = temporary_keys

    async def apply(self, http: HttpRequest) -> HttpRequest:
        creds = await self.credentials.get()
        return sign(http, creds, self._auth.region, self._auth.service)

    async def _fetch(self) -> tuple[Any, float | None]:
        return await asyncio.to_thread(self._resolve)

    def _resolve(self) -> tuple[Any, float | None]:
        from botocore.credentials import RefreshableCredentials

        if self._source is None:
            self._source = self._make_source()
        frozen = self._source.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise UpstreamCredentialsError(f"{self._what}: the credentials found are incomplete")
        return frozen, REREAD if isinstance(self._source, RefreshableCredentials) else None

    def _make_source(self) -> Any:
        import botocore.session
        from botocore.credentials import (
            AssumeRoleCredentialFetcher,
            AssumeRoleWithWebIdentityCredentialFetcher,
            Credentials,
            DeferredRefreshableCredentials,
        )

        a = self._auth
        session = botocore.session.Session(profile=a.profile)
        # the chain's own STS calls (a web identity or role in the environment or a profile)
        # go to the deployment's region, as the ones made here do
        session.set_config_variable("region", a.region)
        if a.web_identity is not None and a.role_arn:
            fetcher: Any = AssumeRoleWithWebIdentityCredentialFetcher(
                client_creator=self._sts(session),
                web_identity_token_loader=functools.partial(_load_token, a.web_identity),
                role_arn=a.role_arn,
                extra_args={"RoleSessionName": a.session_name or "litecursor"},
            )
            return DeferredRefreshableCredentials(
                fetcher.fetch_credentials, "assume-role-with-web-identity"
            )
        if a.access_key_id and a.secret_access_key:
            base = Credentials(
                a.access_key_id, a.secret_access_key, a.session_token, "litellm_params"
            )
        else:
            base = session.get_credentials()
            if base is None:
                where = f"profile '{a.profile}'" if a.profile else "the default chain"
                raise UpstreamCredentialsError(
                    f"{self._what}: none found in {where} (environment, shared files, "
                    f"container credentials, {_instance_metadata(session)}); set "
                    "aws_access_key_id and aws_secret_access_key, aws_profile_name, or a "
                    "Bedrock API key"
                )
        if not a.role_arn:
            return base
        extra = {"RoleSessionName": a.session_name or "litecursor"}
        if a.external_id:
            extra["ExternalId"] = a.external_id
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=self._sts(session),
            source_credentials=base,
            role_arn=a.role_arn,
            extra_args=extra,
        )
        return DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")

    def _sts(self, session: Any) -> Any:
        """Makes the STS client the fetchers call, in the deployment's region (and at
        `aws_sts_endpoint`, for a VPC endpoint)."""
        return functools.partial(
            session.create_client,
            region_name=self._auth.region,
            endpoint_url=self._auth.sts_endpoint,
        )


def _load_token(token: WebIdentityToken) -> str:
    """The web identity token, read again from its file at each exchange (it rotates)."""
    if token.file is None:
        assert token.value is not None
        return token.value
    try:
        with open(token.file, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:  # reported by `Refreshing`, naming the deployment
        raise OSError(
            f"cannot read the web identity token file {token.file}: {e.strerror or e}"
        ) from None


def _instance_metadata(session: Any) -> str:
    """Where the chain looked for instance metadata, for the message when it found nothing
    (botocore gives up on it silently: a refused or silent endpoint looks like no role)."""
    from botocore.utils import METADATA_BASE_URL

    if os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return "instance metadata (disabled)"
    endpoint = session.get_config_variable("ec2_metadata_service_endpoint") or METADATA_BASE_URL
    return f"instance metadata at {endpoint}"
