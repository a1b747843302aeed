"""What the AWS fakes share: SigV4 verification as AWS does it, event-stream framing, a fake STS.

Written from AWS's published specification, independently of botocore (which signs the
gateway's requests) and of litecursor's decoder (which reads these frames), so a test passes
only when both sides agree with the spec.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from aiohttp import web

ROLE_ARN = re.compile(r"arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass
class AwsKeys:
    """The credentials a fake accepts: access key id -> (secret, session token or None)."""

    keys: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    region: str = "us-east-1"
    #: every verified request: (service, access key id)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def add(self, access_key: str, secret: str, token: str | None = None) -> None:
        self.keys[access_key] = (secret, token)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _canonical_uri(raw_path: str) -> str:
    # non-S3 services encode the path as received once more (`%3A` -> `%253A`)
    return "/".join(quote(seg, safe="-_.~") for seg in raw_path.split("/")) or "/"


def _canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def verify_sigv4(
    request: web.Request, body: bytes, keys: AwsKeys, service: str
) -> tuple[int, str, str] | None:
    """None when the request is signed by a known key; else (status, exception, message)."""
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return 403, "MissingAuthenticationTokenException", "Missing Authentication Token"
    fields = dict(
        part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    try:
        access_key, date, region, svc, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (KeyError, ValueError):
        return (
            400,
            "IncompleteSignatureException",
            f"Authorization header is malformed: {auth[:40]}",
        )
    if access_key not in keys.keys:
        return (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    secret, token = keys.keys[access_key]
    amz_date = request.headers.get("X-Amz-Date", "")
    if (region, svc, term) != (keys.region, service, "aws4_request") or amz_date[:8] != date:
        return (
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region and service '{service}'.",
        )
    when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    if abs((dt.datetime.now(dt.UTC) - when).total_seconds()) > 300:
        return 403, "InvalidSignatureException", "Signature expired"
    if token is not None and (
        request.headers.get("X-Amz-Security-Token") != token or "x-amz-security-token" not in signed
    ):
        return (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    if "host" not in signed:
        return 403, "InvalidSignatureException", "'Host' must be a signed header"
    headers = "".join(f"{h}:{' '.join(request.headers.get(h, '').split())}\n" for h in signed)
    canonical = "\n".join((
        request.method, _canonical_uri(request.raw_path.split("?", 1)[0]),
        _canonical_query(request.query_string), headers, ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    ))  # fmt: skip
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    expected = hmac.new(
        signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return 403, "InvalidSignatureException", SIGNATURE_MISMATCH
    keys.seen.append((service, access_key))
    return None


def aws_error(status: int, kind: str, message: str) -> web.Response:
    """An AWS JSON error: the type in `x-amzn-ErrorType` and `__type`, the text in `message`."""
    return web.json_response(
        {"__type": kind, "message": message},
        status=status,
        headers={
            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        },
    )


# -- event-stream framing ------------------------------------------------------------------


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers (all Bedrock sends)."""
    head = b""
    for name, value in headers.items():
        raw = value.encode()
        head += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, payload: bytes) -> bytes:
    return frame(
        {":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
        payload,
    )


def exception(kind: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": kind,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        b'{"message":"' + message.encode() + b'"}',
    )


# -- STS -----------------------------------------------------------------------------------


@dataclass
class FakeSts:
    """AssumeRole (and AssumeRoleWithWebIdentity): issues temporary keys valid at the fake
    Bedrock, after checking the caller's signature."""

    keys: AwsKeys
    lifetime: dt.timedelta = dt.timedelta(hours=1)
    calls: list[dict[str, str]] = field(default_factory=list)
    web_identity_tokens: set[str] = field(default_factory=set)
    #: access key ids issued, in order
    issued: list[str] = field(default_factory=list)

    def make_app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            form = dict(parse_qsl(body.decode()))
            self.calls.append(form)
            action = form.get("Action")
            if form.get("Version") != "2011-06-15":
                return _sts_error(400, "InvalidParameterValue", "Unsupported API version")
            if not ROLE_ARN.fullmatch(form.get("RoleArn", "")):
                return _sts_error(
                    400, "ValidationError", f"{form.get('RoleArn')!r} is not a valid role ARN"
                )
            if not SESSION_NAME.fullmatch(form.get("RoleSessionName", "")):
                return _sts_error(
                    400,
                    "ValidationError",
                    "1 validation error detected: Value at 'roleSessionName' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
                )
            if action == "AssumeRoleWithWebIdentity":
                if form.get("WebIdentityToken") not in self.web_identity_tokens:
                    return _sts_error(
                        400, "InvalidIdentityToken", "Couldn't retrieve verification key"
                    )
            else:
                problem = verify_sigv4(request, body, self.keys, "sts")
                if problem is not None:
                    return _sts_error(problem[0], "SignatureDoesNotMatch", problem[2])
                if action != "AssumeRole":
                    return _sts_error(400, "InvalidAction", f"Could not find operation {action}")
            key, secret, token = (
                "ASIA" + secrets.token_hex(8).upper(),
                secrets.token_hex(20),
                secrets.token_hex(32),
            )
            self.keys.add(key, secret, token)
            self.issued.append(key)
            expires = (dt.datetime.now(dt.UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
            result = f"{action}Result"
            xml = (
                f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{result}>'
                f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
                f"<SessionToken>{token}</SessionToken><Expiration>{expires}</Expiration></Credentials>"
                f"<AssumedRoleUser><AssumedRoleId>AROAFAKE:{form.get('RoleSessionName')}</AssumedRoleId>"
                f"<Arn>{form.get('RoleArn')}</Arn></AssumedRoleUser></{result}>"
                f"<ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></{action}Response>"
            )
            return web.Response(text=xml, content_type="text/xml")

        app = web.Application()
        app.router.add_post("/", handle)
        return app


def _sts_error(status: int, code: str, message: str) -> web.Response:
    xml = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"
    )
    return web.Response(status=status, text=xml, content_type="text/xml")


def json_payload(data: dict[str, Any]) -> bytes:
    import orjson

    # Bedrock pads each event with a `p` field of letters, to hide lengths
    return orjson.dumps({**data, "p": "abcdefghijklmnopqrstuvwxyz"[: 1 + len(data) * 5]})
