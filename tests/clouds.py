"""What the cloud credential tests share: a service account made for the test, the Bedrock fake and its deployment."""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .fakes import bedrock_upstream
from .fakes.aws import AwsKeys
from .fakes.common import FakeUpstream
from .fakes.vertex_upstream import GoogleTokens
from .upstreams import AWS_KEY_ID, AWS_REGION, AWS_SECRET, MODEL, AiohttpServer

SA_EMAIL = "gateway@litecursor-test.iam.gserviceaccount.com"
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
#: a streamed chat request for `MODEL`
HI = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    """One key per test session: generating RSA keys is slow."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account(tokens: GoogleTokens, email: str = SA_EMAIL) -> dict[str, Any]:
    """A service-account key file (as the console downloads it) whose key `tokens` knows."""
    key = rsa_key()
    tokens.accounts[email] = key.public_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "litecursor-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "token_uri": tokens.token_url,
    }


async def bedrock(server: AiohttpServer, **options: Any) -> tuple[FakeUpstream, AwsKeys, str]:
    """The Bedrock fake on loopback, knowing the test's key pair: (state, keys, endpoint).
    `options`: `bedrock_upstream.make_app`'s (an API key, the models refusing streamed tools,
    a proxy's path prefix)."""
    keys = AwsKeys(region=AWS_REGION)
    keys.add(AWS_KEY_ID, AWS_SECRET)
    fake = FakeUpstream()
    app = await server(bedrock_upstream.make_app(fake, keys, **options))
    return fake, keys, str(app.make_url("")).rstrip("/")


def bedrock_params(endpoint: str, model: str = CLAUDE, **kw: Any) -> dict[str, Any]:
    return {"model": f"bedrock/{model}", "aws_bedrock_runtime_endpoint": endpoint,
            "aws_region_name": AWS_REGION, **kw}  # fmt: skip
