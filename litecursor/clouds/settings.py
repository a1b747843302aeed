"""Where a cloud deployment's credentials come from, as read from `litellm_params` at start.

Plain typed data, no I/O and no heavy imports: the config builds these, `clouds.make_auth`
turns them into the objects that fetch tokens and sign requests. Secret fields are left out of
`repr`, so a deployment printed in a log or a traceback shows none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the OAuth2 scope Vertex AI takes
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
METADATA_HOST = "metadata.google.internal"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A service-account key file: a signed JWT is exchanged at `token_uri` for a token."""

    client_email: str
    private_key: str = field(repr=False)
    private_key_id: str | None = None
    token_uri: str = GOOGLE_TOKEN_URI


@dataclass(frozen=True, slots=True)
class AuthorizedUser:
    """`gcloud auth application-default login` credentials: a refresh token."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_uri: str = GOOGLE_TOKEN_URI


@dataclass(frozen=True, slots=True)
class MetadataServer:
    """The attached service account on Google Cloud (GCE, GKE, Cloud Run...)."""

    host: str = METADATA_HOST


GoogleCredentials = ServiceAccount | AuthorizedUser | MetadataServer


@dataclass(frozen=True, slots=True)
class GoogleAuth:
    credentials: GoogleCredentials
    #: where they were found, for messages: "vertex_credentials", a file path, "metadata server"
    origin: str


@dataclass(frozen=True, slots=True)
class WebIdentityToken:
    """An OIDC token STS exchanges for the role's keys (AssumeRoleWithWebIdentity): the token
    itself, or the file it is read from at each exchange (a mounted token, like EKS's, rotates)."""

    value: str | None = field(default=None, repr=False)
    file: str | None = None


@dataclass(frozen=True, slots=True)
class AwsAuth:
    """SigV4 credentials for Bedrock, in LiteLLM's terms: explicit keys, a profile of the shared
    files, or the default chain (environment, shared files, SSO, container and instance
    metadata), optionally a role assumed through STS on top."""

    region: str
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    role_arn: str | None = None
    session_name: str | None = None
    external_id: str | None = None
    web_identity: WebIdentityToken | None = None
    sts_endpoint: str | None = None
    service: str = "bedrock"


CloudAuth = GoogleAuth | AwsAuth
