"""Credentials for the cloud fakes: a service account made for the test, its key registered."""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .fakes.vertex_upstream import GoogleTokens

SA_EMAIL = "gateway@litecursor-test.iam.gserviceaccount.com"


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
