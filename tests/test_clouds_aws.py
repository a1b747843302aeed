"""AWS credentials for Bedrock end to end over TLS: keys, profiles, STS roles, web identity, API keys.

The fakes check them as AWS does (STS the caller's signature and the identity token it trusts,
Bedrock the SigV4 signature of each request), so a 200 means the gateway got, cached and
applied real-shaped credentials. botocore reads the process environment: every test runs in
`aws_env`, emptied of the machine's AWS settings. Container and instance metadata are in
test_clouds_aws_metadata.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import orjson
import pytest

from litecursor.clouds.settings import AwsAuth, WebIdentityToken
from litecursor.config import ConfigError, parse

from .clouds import HI, bedrock, bedrock_params
from .conftest import CloudGateway
from .fakes.aws import AwsKeys, FakeSts
from .upstreams import AWS_KEY_ID, AWS_SECRET, AiohttpServer

ROLE = "arn:aws:iam::123456789012:role/bedrock-invoker"
#: OIDC tokens as an identity provider (EKS, GitHub, Google) issues them: JWTs
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Z2F0ZXdheSJ9.c2lnLTE"
JWT_ROTATED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Z2F0ZXdheSJ9.c2lnLTI"


async def sts(server: AiohttpServer, keys: AwsKeys, *tokens: str) -> tuple[FakeSts, str]:
    """The fake STS, trusting `tokens` as web identities: (state, endpoint)."""
    fake = FakeSts(keys, web_identity_tokens=set(tokens))
    return fake, str((await server(fake.make_app())).make_url("/"))


def deployment_auth(params: dict[str, object], environ: dict[str, str]) -> AwsAuth:
    config = parse({"model_list": [{"model_name": "m", "litellm_params": params}],
                    "general_settings": {"master_key": "k"}}, environ=environ)  # fmt: skip
    auth = config.deployments[0].auth
    assert isinstance(auth, AwsAuth)
    return auth


# --- keys, profiles, roles ---------------------------------------------------------------


async def test_a_role_is_assumed_through_sts_and_its_keys_sign(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    fake, keys, endpoint = await bedrock(aiohttp_server)
    fake_sts, sts_url = await sts(aiohttp_server, keys)
    gw = await cloud_gateway(bedrock_params(
        endpoint, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET,
        aws_role_name=ROLE, aws_session_name="gateway", aws_sts_endpoint=sts_url,
    ))  # fmt: skip
    assert (await gw.chat(HI))[0] == 200
    assert (await gw.chat(HI))[0] == 200
    (call,) = fake_sts.calls  # assumed once, cached
    assert call["Action"] == "AssumeRole" and call["RoleArn"] == ROLE
    assert call["RoleSessionName"] == "gateway"
    assert keys.seen == [("sts", AWS_KEY_ID)] + [("bedrock", fake_sts.issued[0])] * 2
    assert "X-Amz-Security-Token" in fake.last.headers


async def test_a_wrong_secret_is_the_gateways_problem_and_never_echoed(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    wrong = "not-the-secret-0123456789"
    gw = await cloud_gateway(
        bedrock_params(endpoint, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=wrong)
    )
    status, body = await gw.chat(HI)
    assert status == 502 and body["error"]["code"] == "upstream_auth_error"
    assert wrong not in orjson.dumps(body).decode() and keys.seen == []


async def test_a_bedrock_api_key_from_the_environment_is_a_bearer_token(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    fake, keys, endpoint = await bedrock(aiohttp_server, api_key="ABSKbedrock-api-key")
    gw = await cloud_gateway(
        bedrock_params(endpoint), environ={"AWS_BEARER_TOKEN_BEDROCK": "ABSKbedrock-api-key"}
    )
    assert (await gw.chat(HI))[0] == 200
    assert fake.last.headers["Authorization"] == "Bearer ABSKbedrock-api-key" and keys.seen == []


async def test_a_profile_of_the_shared_files_signs(
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    keys.add("AKIDPROFILE", "profile-secret")
    (tmp_path / "credentials").write_text(
        "[team]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"
    )
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    gw = await cloud_gateway(bedrock_params(endpoint, aws_profile_name="team"))
    assert (await gw.chat(HI))[0] == 200
    assert keys.seen == [("bedrock", "AKIDPROFILE")]


async def test_no_aws_credentials_anywhere_is_a_502_naming_the_deployment(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    fake, _, endpoint = await bedrock(aiohttp_server)
    gw = await cloud_gateway(bedrock_params(endpoint))
    status, body = await gw.chat(HI)
    assert status == 502 and body["error"]["code"] == "upstream_credentials_error"
    message = body["error"]["message"]
    assert "deployment 'cloud-1'" in message and "instance metadata (disabled)" in message
    assert fake.requests == []


def test_signing_without_botocore_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("litecursor.clouds.aws.botocore_missing", lambda: True)
    data = {"model_list": [{"model_name": "m", "litellm_params": bedrock_params("https://x")}],
            "general_settings": {"master_key": "k"}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"litecursor\[bedrock\]"):
        parse(data, environ={})
    parse(data, environ={"AWS_BEARER_TOKEN_BEDROCK": "key"})  # an API key needs no botocore


def test_aws_secrets_stay_out_of_a_deployments_repr() -> None:
    params = bedrock_params("https://x", aws_access_key_id="AKID", aws_secret_access_key="s3cr3t",
                            aws_session_token="t0k3n", aws_role_name=ROLE,
                            aws_web_identity_token=JWT)  # fmt: skip
    config = parse({"model_list": [{"model_name": "m", "litellm_params": params}],
                    "general_settings": {"master_key": "k"}}, environ={})  # fmt: skip
    shown = repr(config.deployments[0])
    assert "AKID" in shown and "s3cr3t" not in shown and "t0k3n" not in shown
    assert JWT not in shown


# --- web identity ------------------------------------------------------------------------


async def test_a_web_identity_token_is_exchanged_at_sts_for_the_roles_keys(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    fake, keys, endpoint = await bedrock(aiohttp_server)
    fake_sts, sts_url = await sts(aiohttp_server, keys, JWT)
    gw = await cloud_gateway(bedrock_params(
        endpoint, aws_web_identity_token=JWT, aws_role_name=ROLE, aws_session_name="gateway",
        aws_sts_endpoint=sts_url,
    ))  # fmt: skip
    assert (await gw.chat(HI))[0] == 200
    assert (await gw.chat(HI))[0] == 200
    (call,) = fake_sts.calls  # exchanged once, cached
    assert call["Action"] == "AssumeRoleWithWebIdentity" and call["WebIdentityToken"] == JWT
    assert call["RoleArn"] == ROLE and call["RoleSessionName"] == "gateway"
    assert keys.seen == [("bedrock", fake_sts.issued[0])] * 2  # the role's keys signed both
    assert "X-Amz-Security-Token" in fake.last.headers


async def test_a_token_file_is_read_again_at_each_exchange(
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
    tmp_path: Path,
    reread: float,
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    fake_sts, sts_url = await sts(aiohttp_server, keys, JWT, JWT_ROTATED)
    # 14 minutes: inside botocore's refresh window, so each read of the keys exchanges again
    fake_sts.lifetime = dt.timedelta(minutes=14)
    token = tmp_path / "token"
    token.write_text(JWT + "\n")
    gw = await cloud_gateway(bedrock_params(
        endpoint, aws_web_identity_token=f"oidc/file/{token}", aws_role_name=ROLE,
        aws_sts_endpoint=sts_url,
    ))  # fmt: skip
    assert (await gw.chat(HI))[0] == 200
    token.write_text(JWT_ROTATED)  # the identity provider rotated the mounted token
    await asyncio.sleep(reread * 1.5)
    assert (await gw.chat(HI))[0] == 200
    assert [c["WebIdentityToken"] for c in fake_sts.calls] == [JWT, JWT_ROTATED]
    assert [k for _, k in keys.seen] == fake_sts.issued  # each request with the newest keys


async def test_the_standard_web_identity_environment_assumes_its_role(
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    fake_sts, sts_url = await sts(aiohttp_server, keys, JWT)
    token = tmp_path / "token"
    token.write_text(JWT)
    # what EKS (IRSA) puts in a pod, and botocore's own STS endpoint override
    aws_env.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    aws_env.setenv("AWS_ROLE_ARN", ROLE)
    aws_env.setenv("AWS_ROLE_SESSION_NAME", "gateway-pod")
    aws_env.setenv("AWS_ENDPOINT_URL_STS", sts_url)
    gw = await cloud_gateway(bedrock_params(endpoint))
    assert (await gw.chat(HI))[0] == 200
    (call,) = fake_sts.calls
    assert call["Action"] == "AssumeRoleWithWebIdentity" and call["WebIdentityToken"] == JWT
    assert call["RoleArn"] == ROLE and call["RoleSessionName"] == "gateway-pod"
    assert keys.seen == [("bedrock", fake_sts.issued[0])]


async def test_a_refused_web_identity_is_a_502_naming_the_deployment_not_the_token(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    fake, keys, endpoint = await bedrock(aiohttp_server)
    _, sts_url = await sts(aiohttp_server, keys)  # trusts no token
    gw = await cloud_gateway(bedrock_params(
        endpoint, aws_web_identity_token=JWT, aws_role_name=ROLE, aws_sts_endpoint=sts_url,
    ))  # fmt: skip
    status, body = await gw.chat(HI)
    assert status == 502 and body["error"]["code"] == "upstream_credentials_error"
    message = body["error"]["message"]
    assert "deployment 'cloud-1'" in message and "InvalidIdentityToken" in message
    assert JWT not in orjson.dumps(body).decode() and fake.requests == []


def test_web_identity_tokens_are_read_where_litellm_reads_them(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(JWT)
    environ = {"OIDC_TOKEN": JWT_ROTATED, "TOKEN_PATH": str(token)}

    def web_identity(value: str) -> WebIdentityToken | None:
        params = bedrock_params("https://x", aws_role_name=ROLE, aws_web_identity_token=value)
        return deployment_auth(params, environ).web_identity

    assert web_identity(JWT) == WebIdentityToken(value=JWT)
    assert web_identity("os.environ/OIDC_TOKEN") == WebIdentityToken(value=JWT_ROTATED)
    assert web_identity("oidc/env/OIDC_TOKEN") == WebIdentityToken(value=JWT_ROTATED)
    assert web_identity(f"oidc/file/{token}") == WebIdentityToken(file=str(token))
    assert web_identity("oidc/env_path/TOKEN_PATH") == WebIdentityToken(file=str(token))


@pytest.mark.parametrize(
    ("params", "where", "words"),
    [
        ({"aws_web_identity_token": JWT}, "aws_role_name", "required with aws_web_identity_token"),
        ({"aws_web_identity_token": "oidc/github/sts.amazonaws.com", "aws_role_name": ROLE},
         "aws_web_identity_token", "oidc/github/ tokens are not supported"),
        ({"aws_web_identity_token": "oidc/file//nonexistent/token", "aws_role_name": ROLE},
         "aws_web_identity_token", "cannot read /nonexistent/token"),
        ({"aws_web_identity_token": "oidc/env/NO_SUCH_TOKEN", "aws_role_name": ROLE},
         "aws_web_identity_token", "NO_SUCH_TOKEN is not set"),
    ],
)  # fmt: skip
def test_a_web_identity_that_cannot_work_stops_the_start(
    params: dict[str, str], where: str, words: str
) -> None:
    with pytest.raises(ConfigError) as e:
        deployment_auth(bedrock_params("https://x", **params), {})
    assert f"litellm_params.{where}" in str(e.value) and words in str(e.value)
