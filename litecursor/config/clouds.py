"""`litellm_params` of Vertex AI and Bedrock deployments -> their URL and credentials settings.

Keys as LiteLLM names them. Vertex: `vertex_project`, `vertex_location`, `vertex_credentials`
(a file path or the JSON itself), `api_base`; else `VERTEXAI_PROJECT`, `VERTEXAI_LOCATION`,
`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's application-default file, then the metadata server.
Bedrock: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`, `aws_region_name`,
`aws_profile_name`, `aws_role_name`, `aws_session_name`, `aws_external_id`,
`aws_web_identity_token` (the token, or `oidc/file|env|env_path/...`), `aws_sts_endpoint`,
`aws_bedrock_runtime_endpoint` (or `api_base`), and a Bedrock API key as `api_key` or
`AWS_BEARER_TOKEN_BEDROCK`. Files are read here, once, so a missing or broken credentials file
stops the start with its path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from ..clouds.settings import (
    GOOGLE_TOKEN_URI,
    METADATA_HOST,
    AuthorizedUser,
    AwsAuth,
    CloudAuth,
    GoogleAuth,
    GoogleCredentials,
    MetadataServer,
    ServiceAccount,
    WebIdentityToken,
)
from ..protocol.providers.vertex import vertex_model_url
from .values import ConfigError, ValueReader

CLOUD_ADAPTERS = frozenset({"vertex_gemini", "vertex_anthropic", "bedrock"})
VERTEX_KEYS = ("vertex_project", "vertex_location", "vertex_credentials")
AWS_KEYS = (
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name",
    "aws_profile_name", "aws_role_name", "aws_session_name", "aws_external_id",
    "aws_web_identity_token", "aws_sts_endpoint", "aws_bedrock_runtime_endpoint",
)  # fmt: skip
DEFAULT_LOCATION = "us-central1"


@dataclass(frozen=True, slots=True)
class CloudTarget:
    api_base: str
    api_key: str | None
    auth: CloudAuth | None


def read_cloud(
    p: ValueReader, lp: dict[str, Any], path: str, adapter: str, model: str, api_base: str | None
) -> CloudTarget:
    if adapter == "bedrock":
        for key in VERTEX_KEYS:
            if key in lp:
                raise ConfigError(f"{path}.{key}", "is for vertex_ai/ models, not bedrock/")
        return _bedrock(p, lp, path, model, api_base)
    for key in AWS_KEYS:
        if key in lp:
            raise ConfigError(f"{path}.{key}", "is for bedrock/ models, not vertex_ai/")
    return _vertex(p, lp, path, adapter, model, api_base)


# -- Vertex AI ---------------------------------------------------------------------------


def _vertex(
    p: ValueReader, lp: dict[str, Any], path: str, adapter: str, model: str, api_base: str | None
) -> CloudTarget:
    if lp.get("api_key") is not None:
        raise ConfigError(
            f"{path}.api_key",
            "vertex_ai/ models use Google credentials (vertex_credentials, "
            "GOOGLE_APPLICATION_CREDENTIALS or the metadata server), not an api_key",
        )
    env = p.environ
    creds, origin, project_hint = _google_credentials(p, lp, path)
    project = (
        p.opt_str(lp, "vertex_project", f"{path}.vertex_project")
        or env.get("VERTEXAI_PROJECT")
        or env.get("VERTEX_PROJECT")
        or project_hint
        or env.get("GOOGLE_CLOUD_PROJECT")
    )
    if not project:
        raise ConfigError(
            f"{path}.vertex_project",
            "required: set it (or VERTEXAI_PROJECT), or use a service-account key with a project_id",
        )
    location = (
        p.opt_str(lp, "vertex_location", f"{path}.vertex_location")
        or env.get("VERTEXAI_LOCATION")
        or env.get("VERTEX_LOCATION")
        or DEFAULT_LOCATION
    )
    publisher = "anthropic" if adapter == "vertex_anthropic" else "google"
    url = vertex_model_url(project, location, publisher, model, api_base)
    return CloudTarget(url, None, GoogleAuth(creds, origin))


def _google_credentials(
    p: ValueReader, lp: dict[str, Any], path: str
) -> tuple[GoogleCredentials, str, str | None]:
    """(credentials, where they came from, the project they name) in LiteLLM's order."""
    raw = p.opt_str(lp, "vertex_credentials", f"{path}.vertex_credentials")
    where = f"{path}.vertex_credentials"
    if raw is None:
        file = p.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        where = "GOOGLE_APPLICATION_CREDENTIALS"
        if not file:
            file = _gcloud_adc_file(p)
            where = file or ""
        if not file:
            host = p.environ.get("GCE_METADATA_HOST") or METADATA_HOST
            return MetadataServer(host), "metadata server", None
        raw = file
    text = raw if raw.lstrip().startswith("{") else _read(raw, where)
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ConfigError(where, "the Google credentials are not valid JSON") from None
    if not isinstance(info, dict):
        raise ConfigError(where, "the Google credentials must be a JSON object")
    origin = "vertex_credentials" if where.endswith("vertex_credentials") else raw
    return (
        _parse_google(info, where),
        origin,
        info.get("project_id") or info.get("quota_project_id"),
    )


def _gcloud_adc_file(p: ValueReader) -> str | None:
    config = p.environ.get("CLOUDSDK_CONFIG")
    if not config and p.environ.get("HOME"):
        config = os.path.join(p.environ["HOME"], ".config", "gcloud")
    if not config:
        return None
    file = os.path.join(config, "application_default_credentials.json")
    return file if os.path.isfile(file) else None


def _read(file: str, where: str) -> str:
    try:
        with open(file, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(where, f"cannot read {file}: {e.strerror or e}") from None


def _parse_google(info: dict[str, Any], where: str) -> GoogleCredentials:
    kind = info.get("type")

    def need(*keys: str) -> list[str]:
        missing = [k for k in keys if not isinstance(info.get(k), str) or not info[k]]
        if missing:
            raise ConfigError(where, f"the {kind} credentials lack {', '.join(missing)}")
        return [info[k] for k in keys]

    if kind == "service_account":
        email, key = need("client_email", "private_key")
        from ..clouds.google import load_private_key

        try:
            load_private_key(key)
        except (ValueError, TypeError) as e:
            raise ConfigError(
                where, f"the service account's private_key is unusable: {e}"
            ) from None
        return ServiceAccount(email, key, info.get("private_key_id"),
                              info.get("token_uri") or GOOGLE_TOKEN_URI)  # fmt: skip
    if kind == "authorized_user":
        cid, secret, refresh = need("client_id", "client_secret", "refresh_token")
        return AuthorizedUser(cid, secret, refresh, info.get("token_uri") or GOOGLE_TOKEN_URI)
    raise ConfigError(
        where,
        f"Google credentials of type {kind!r} are not supported; use a service-account key "
        "(service_account), gcloud application-default credentials (authorized_user), or the "
        "metadata server on Google Cloud",
    )


# -- Bedrock -----------------------------------------------------------------------------


def _bedrock(
    p: ValueReader, lp: dict[str, Any], path: str, model: str, api_base: str | None
) -> CloudTarget:
    env = p.environ

    def opt(key: str) -> str | None:
        return p.opt_str(lp, key, f"{path}.{key}")

    region = opt("aws_region_name") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    endpoint = opt("aws_bedrock_runtime_endpoint")
    where = f"{path}.aws_bedrock_runtime_endpoint" if endpoint else f"{path}.api_base"
    endpoint = endpoint or api_base
    if endpoint is None:
        if not region:
            raise ConfigError(
                f"{path}.aws_region_name",
                "required: set it (or AWS_REGION), or aws_bedrock_runtime_endpoint",
            )
        endpoint = bedrock_runtime_url(region)
    elif not endpoint.startswith(("http://", "https://")):
        raise ConfigError(where, f"'{endpoint}' is not an http(s) URL")
    key_id, secret = opt("aws_access_key_id"), opt("aws_secret_access_key")
    if bool(key_id) != bool(secret):
        missing = "aws_secret_access_key" if key_id else "aws_access_key_id"
        raise ConfigError(f"{path}.{missing}", "required with the other half of the key pair")
    profile, role = opt("aws_profile_name"), opt("aws_role_name")
    web_identity = _web_identity(p, opt("aws_web_identity_token"), f"{path}.aws_web_identity_token")
    if web_identity is not None and not role:
        raise ConfigError(
            f"{path}.aws_role_name", "required with aws_web_identity_token: the role to assume"
        )
    api_key = opt("api_key")
    explicit_aws = bool(key_id or profile or role)
    if api_key is None and not explicit_aws:
        api_key = env.get("AWS_BEARER_TOKEN_BEDROCK")
    if api_key:  # a Bedrock API key: a bearer token, nothing to sign
        return CloudTarget(endpoint.rstrip("/"), api_key, None)
    if not region:
        raise ConfigError(f"{path}.aws_region_name", "required to sign requests (SigV4)")
    from ..clouds.aws import EXTRA, botocore_missing

    if botocore_missing():
        raise ConfigError(
            f"{path}.model",
            f"signing Bedrock requests needs botocore: {EXTRA} "
            "(or use a Bedrock API key: api_key or AWS_BEARER_TOKEN_BEDROCK)",
        )
    auth = AwsAuth(
        region=region,
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=opt("aws_session_token"),
        profile=profile,
        role_arn=role,
        session_name=opt("aws_session_name"),
        external_id=opt("aws_external_id"),
        web_identity=web_identity,
        sts_endpoint=opt("aws_sts_endpoint"),
    )
    return CloudTarget(endpoint.rstrip("/"), None, auth)


def bedrock_runtime_url(region: str) -> str:
    """The Bedrock runtime endpoint of a region (the China regions are under amazonaws.com.cn)."""
    suffix = ".com.cn" if region.startswith("cn-") else ".com"
    return f"https://bedrock-runtime.{region}.amazonaws{suffix}"


def _web_identity(p: ValueReader, raw: str | None, where: str) -> WebIdentityToken | None:
    """`aws_web_identity_token` as LiteLLM reads it: the token, or where to find it
    (`oidc/file/<path>`, `oidc/env/<NAME>`, `oidc/env_path/<NAME>`: a variable naming the file).
    Files are read again at each exchange, since mounted tokens rotate; they must be readable now."""
    if raw is None:
        return None
    if not raw.startswith("oidc/"):
        return WebIdentityToken(value=raw)
    kind, _, rest = raw.removeprefix("oidc/").partition("/")
    if kind == "env":
        value = p.environ.get(rest)
        if not value:
            raise ConfigError(where, f"{raw}: the environment variable {rest} is not set")
        return WebIdentityToken(value=value.strip())
    if kind == "env_path":
        file = p.environ.get(rest)
        if not file:
            raise ConfigError(where, f"{raw}: the environment variable {rest} is not set")
    elif kind == "file":
        file = rest
    else:
        raise ConfigError(
            where,
            f"oidc/{kind}/ tokens are not supported: give the token itself, "
            "oidc/file/<path>, oidc/env/<NAME> or oidc/env_path/<NAME>",
        )
    if not file or not _read(file, where).strip():
        raise ConfigError(where, f"{raw}: the token file {file or '(none)'} is empty")
    return WebIdentityToken(file=file)
