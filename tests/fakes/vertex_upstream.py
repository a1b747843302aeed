"""A fake Vertex AI (Gemini `generateContent`, Claude `rawPredict`) with its own OAuth2 token endpoint.

`GoogleTokens` is the token endpoint (`POST /token`: the JWT-bearer grant, checked against the
service account's public key, and the refresh-token grant) and the metadata server
(`GET /computeMetadata/v1/instance/service-accounts/default/token`); the Vertex app accepts
only the unexpired access tokens it issued. URLs must be the model resource as Google's REST
reference writes it, `/{v1|v1beta1}/projects/{project}/locations/{location}/publishers/
{google|anthropic}/models/{model}:{method}`, for the project and location it serves (a region
or `global`; the host that goes with it, `{region}-aiplatform.googleapis.com` or
`aiplatform.googleapis.com`, is unit-tested, as the fake runs on loopback). Gemini bodies are
checked by the Gemini fake's validation; Claude bodies by the Anthropic fake's, plus Vertex's
envelope (`anthropic_version: "vertex-2023-10-16"`, no `model`).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import anthropic_upstream, gemini_upstream
from .common import FakeUpstream

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@dataclass
class GoogleTokens:
    """Service accounts and refresh tokens it knows, the access tokens it issued."""

    accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)  # client_email -> key
    refresh_tokens: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # token -> (id, secret)
    lifetime: int = 3600
    issued: dict[str, float] = field(default_factory=dict)  # access token -> expiry (time.time)
    grants: list[str] = field(default_factory=list)
    #: answer the next grants with this status (an outage), None to work
    fail_status: int | None = None
    token_url: str = ""

    def valid(self, token: str) -> bool:
        return self.issued.get(token, 0) > time.time()

    def _issue(self, kind: str) -> web.Response:
        self.grants.append(kind)
        if self.fail_status is not None:
            return web.json_response(
                {"error": "internal_failure", "error_description": "Backend Error"},
                status=self.fail_status,
            )
        token = "ya29.fake-" + secrets.token_urlsafe(16)
        self.issued[token] = time.time() + self.lifetime
        return web.json_response(
            {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"}
        )

    def _check_jwt(self, assertion: str) -> str | None:
        try:
            head, claims, sig = assertion.split(".")
            header, body = orjson.loads(_b64(head)), orjson.loads(_b64(claims))
        except (ValueError, orjson.JSONDecodeError):
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
        key = self.accounts.get(body.get("iss"))
        if header.get("alg") != "RS256" or key is None:
            return "Invalid JWT Signature."
        try:
            key.verify(_b64(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # cryptography's InvalidSignature
            return "Invalid JWT Signature."
        now = time.time()
        if body.get("aud") != self.token_url:
            return f"Invalid JWT: audience {body.get('aud')!r} is not the token endpoint"
        if CLOUD_PLATFORM not in str(body.get("scope", "")).split():
            return "Invalid JWT: scope is missing cloud-platform"
        if not (body["iat"] - 60 <= now <= body["exp"]) or body["exp"] - body["iat"] > 3600:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        return None

    def make_app(self) -> web.Application:
        async def token(request: web.Request) -> web.Response:
            form = await request.post()
            grant = form.get("grant_type")
            if grant == JWT_BEARER:
                problem = self._check_jwt(str(form.get("assertion", "")))
                if problem is not None:
                    return web.json_response(
                        {"error": "invalid_grant", "error_description": problem}, status=400
                    )
                return self._issue("jwt")
            if grant == "refresh_token":
                known = self.refresh_tokens.get(str(form.get("refresh_token")))
                if known != (form.get("client_id"), form.get("client_secret")):
                    return web.json_response(
                        {"error": "invalid_grant", "error_description": "Bad Request"}, status=400
                    )
                return self._issue("refresh")
            return web.json_response({"error": "unsupported_grant_type"}, status=400)

        async def metadata(request: web.Request) -> web.Response:
            if request.headers.get("Metadata-Flavor") != "Google":
                return web.Response(status=403, text="Missing Metadata-Flavor:Google header.")
            return self._issue("metadata")

        app = web.Application()
        app.router.add_post("/token", token)
        app.router.add_get("/computeMetadata/v1/instance/service-accounts/default/token", metadata)
        return app


def _unauthenticated() -> web.Response:
    return gemini_upstream._error(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential.",
    )


#: the API versions Vertex AI serves the publisher models on
VERSIONS = ("v1", "v1beta1")
#: a Vertex region (`us-east5`, `europe-west4`, `asia-northeast1`) or the global endpoint
LOCATION = re.compile(r"[a-z]+-[a-z]+[0-9]+|global")
#: publisher model ids: `gemini-2.5-flash`, `claude-sonnet-4-5@20250929`
MODEL_ID = re.compile(r"[a-z0-9][a-z0-9.-]*(@[a-z0-9]+)?")
METHODS = {
    "google": ("generateContent", "streamGenerateContent"),
    "anthropic": ("rawPredict", "streamRawPredict"),
}


def make_app(
    fake: FakeUpstream,
    tokens: GoogleTokens,
    *,
    project: str,
    location: str,
    prefix: str = "",
) -> web.Application:
    """The fake for one project and location. Only the REST shapes Vertex serves get an answer:
    `/{v1|v1beta1}/projects/{project}/locations/{location}/publishers/{publisher}/models/
    {model}:{method}`, the methods each publisher's models have, `alt` the only query
    parameter (and only for Gemini). `prefix`: a reverse proxy's path in front of it."""

    async def predict(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        fake.record(request, body)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not tokens.valid(auth[7:]):
            return _unauthenticated()
        m = request.match_info
        if m["version"] not in VERSIONS:
            return _not_found(request.path)
        if not LOCATION.fullmatch(m["location"]):
            return gemini_upstream._error(
                400, "INVALID_ARGUMENT", f"Unsupported location {m['location']!r}."
            )
        if (m["project"], m["location"]) != (project, location):
            return gemini_upstream._error(
                403, "PERMISSION_DENIED", f"Permission denied on resource project {m['project']}."
            )
        model, _, method = m["call"].rpartition(":")
        publisher = m["publisher"]
        if publisher not in METHODS or not MODEL_ID.fullmatch(model):
            return gemini_upstream._error(
                404,
                "NOT_FOUND",
                f"Publisher Model `projects/{project}/locations/{location}/publishers/"
                f"{publisher}/models/{model}` not found.",
            )
        if method not in METHODS[publisher]:
            return _not_found(request.path)
        allowed = {"alt"} if publisher == "google" else set()
        unknown = set(request.query) - allowed
        if unknown or request.query.get("alt", "json") not in ("json", "sse"):
            name = sorted(unknown)[0] if unknown else "alt"
            return gemini_upstream._error(
                400,
                "INVALID_ARGUMENT",
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                "parameter.",
            )
        if publisher == "google":
            return await _gemini(request, fake, body, model, method)
        return await _claude(request, fake, body, model, method)

    app = web.Application()
    app.router.add_post(
        prefix + "/{version}/projects/{project}/locations/{location}/publishers/{publisher}"
        "/models/{call}",
        predict,
    )
    return app


def _not_found(path: str) -> web.Response:
    """Google's front end for a URL no API serves: an HTML 404, as the real one sends."""
    return web.Response(
        status=404,
        text=f"<!DOCTYPE html><title>Error 404 (Not Found)!!1</title><p>The requested URL "
        f"<code>{path}</code> was not found on this server.",
        content_type="text/html",
    )


async def _gemini(
    request: web.Request, fake: FakeUpstream, body: Any, model: str, method: str
) -> web.StreamResponse:
    try:
        gemini_upstream.validate(body, model)
    except gemini_upstream.Invalid as exc:
        return gemini_upstream._error(400, "INVALID_ARGUMENT", str(exc))
    resp = await fake.before_reply(request)
    if resp is not None:
        return resp
    reply = fake.next_reply()
    if reply.raw is not None:
        return await fake.write_stream(request, [reply.raw], reply.raw_content_type)
    rid = "vertex-" + secrets.token_hex(6)
    if method == "generateContent":
        return web.json_response(gemini_upstream.render_body(reply, model, rid))
    chunks = gemini_upstream.render_chunks(reply, model, rid)
    if request.query.get("alt") != "sse":
        return await fake.write_stream(
            request, gemini_upstream.frame_json_array(chunks), "application/json; charset=UTF-8"
        )
    return await fake.write_stream(request, gemini_upstream.frame_sse(chunks))


async def _claude(
    request: web.Request, fake: FakeUpstream, body: Any, model: str, method: str
) -> web.StreamResponse:
    def invalid(message: str) -> web.Response:
        return anthropic_upstream._error(400, "invalid_request_error", message)

    if not isinstance(body, dict):
        return invalid("There was an error parsing the body")
    if body.get("anthropic_version") != "vertex-2023-10-16":
        return invalid("anthropic_version: Input should be 'vertex-2023-10-16'")
    if "model" in body:
        return invalid("model: Extra inputs are not permitted")
    claude = {k: v for k, v in body.items() if k != "anthropic_version"}
    try:
        anthropic_upstream.validate({**claude, "model": model})
    except anthropic_upstream.Invalid as e:
        return invalid(str(e))
    if bool(body.get("stream")) != (method == "streamRawPredict"):
        return invalid("stream must be true for streamRawPredict and absent for rawPredict")
    resp = await fake.before_reply(request)
    if resp is not None:
        return resp
    reply = fake.next_reply()
    if reply.raw is not None:
        return await fake.write_stream(request, [reply.raw], reply.raw_content_type)
    if method == "streamRawPredict":
        return await fake.write_stream(request, anthropic_upstream.render_stream(reply, model))
    return web.json_response(anthropic_upstream.render_message(reply, model))
