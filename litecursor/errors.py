"""The one error hierarchy: every failure a client can see, with its status and OpenAI error JSON."""

from __future__ import annotations

import re
from typing import Any, ClassVar


class LitecursorError(Exception):
    """Base of every error litecursor reports to a client.

    Each subclass fixes the HTTP status and the OpenAI error ``type``; an instance carries
    the message, the offending ``param`` (a dotted path into the request body), a ``code``,
    and for a failure an upstream reported, the status it answered with (``upstream_status``).
    """

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None
    #: whether the router may try again (same or another deployment) after this error
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = dict(headers or {})
        self.upstream_status = upstream_status

    @property
    def kind(self) -> str:
        """The error's class as a code from a fixed set (`upstream_rate_limited`,
        `invalid_request_error` ...): a metric label or a log field, unlike `code`, which
        may be the provider's own."""
        return self.default_code or self.error_type

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, param={self.param!r}, code={self.code!r})"


# --- the client's fault (4xx) -------------------------------------------------------------


class InvalidRequestError(LitecursorError):
    status = 400
    error_type = "invalid_request_error"


class ContextWindowExceededError(InvalidRequestError):
    default_code = "context_length_exceeded"


class ContentPolicyError(InvalidRequestError):
    default_code = "content_policy_violation"


class BudgetExceededError(InvalidRequestError):
    """A budget (the key's, its user's or team's, the end user's, the whole proxy's) is spent.
    Its figures are in the error object too, for clients that act on them."""

    error_type = "budget_exceeded"
    default_code = "budget_exceeded"

    def __init__(
        self,
        message: str,
        *,
        budget: str,
        spend: float,
        max_budget: float,
        reset_at: str | None,
    ) -> None:
        super().__init__(message)
        self.budget = budget
        self.spend = spend
        self.max_budget = max_budget
        self.reset_at = reset_at

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["error"] |= {
            "budget": self.budget,
            "spend": self.spend,
            "max_budget": self.max_budget,
            "budget_reset_at": self.reset_at,
        }
        return out


class AuthenticationError(LitecursorError):
    status = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(LitecursorError):
    status = 403
    error_type = "permission_error"


class NotFoundError(LitecursorError):
    status = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFoundError(NotFoundError):
    default_code = "model_not_found"


class MethodNotAllowedError(LitecursorError):
    status = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"


class PayloadTooLargeError(LitecursorError):
    status = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"

    @classmethod
    def over_limit(cls, limit_mb: float) -> PayloadTooLargeError:
        return cls(
            f"request body is larger than the {limit_mb:g} MiB limit "
            "(general_settings.max_request_size_mb)"
        )


class RateLimitError(LitecursorError):
    status = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        if retry_after is not None:
            # whole seconds, rounded up: the header's form is an integer
            self.headers.setdefault("retry-after", str(max(0, int(-(-retry_after // 1)))))


class NoDeploymentAvailableError(RateLimitError):
    """Every deployment of a model group is cooling down or at its limits."""

    default_code = "no_deployment_available"
    retryable = False


class ClientStalledError(LitecursorError):
    """The client stopped reading the answer; it was dropped at the request's deadline (the
    client never sees it: recorded for logs and the request's outcome)."""

    status = 408
    error_type = "timeout_error"
    default_code = "client_stalled"


# --- the gateway's or the upstream's fault (5xx) ------------------------------------------


class InternalError(LitecursorError):
    status = 500
    error_type = "api_error"
    default_code = "internal_error"


class ServiceUnavailableError(LitecursorError):
    status = 503
    default_code = "service_unavailable"


class ShuttingDownError(ServiceUnavailableError):
    """The gateway is stopping (SIGTERM); another instance, or this one restarted, will answer."""

    default_code = "shutting_down"

    def __init__(self, message: str = "the gateway is shutting down; retry the request") -> None:
        super().__init__(message, headers={"retry-after": "1"})


class ReloadRefusedError(LitecursorError):
    """`POST /admin/reload` found the config, an environment file or the certificate unusable;
    the gateway keeps serving the previous ones."""

    status = 422
    error_type = "invalid_request_error"
    default_code = "reload_refused"


class UpstreamError(LitecursorError):
    """The provider failed in a way the client cannot fix: shown as 502 Bad Gateway."""

    status = 502
    error_type = "upstream_error"
    default_code = "upstream_error"
    retryable = True


class UpstreamAuthError(UpstreamError):
    """The provider refused our credentials. Never echoes the key."""

    default_code = "upstream_auth_error"
    retryable = False


class UpstreamCredentialsError(UpstreamError):
    """The gateway could not get credentials for a deployment (a token endpoint, STS or a
    metadata server failed, or no credentials were found). Names the deployment, never a secret."""

    default_code = "upstream_credentials_error"


class UpstreamConnectionError(UpstreamError):
    default_code = "upstream_connection_error"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    error_type = "timeout_error"
    default_code = "upstream_timeout"


class UpstreamProtocolError(UpstreamError):
    """The provider sent bytes that do not follow its own API (bad JSON, broken framing)."""

    default_code = "upstream_protocol_error"
    retryable = False


class UpstreamRateLimitError(RateLimitError):
    """The provider said 429; passed on with its retry-after."""

    default_code = "upstream_rate_limited"


class UpstreamBadRequestError(InvalidRequestError):
    """The provider rejected the request as invalid: its message is passed on unchanged."""


class UpstreamContextWindowError(UpstreamBadRequestError, ContextWindowExceededError):
    """The conversation is longer than the model takes. Whatever the provider said, the
    client sees OpenAI's error (the code, and the wording with the numbers the provider
    gave): Cursor summarises a long chat only when it recognises that one. The provider's
    own words stay in `upstream_message`, for the logs."""

    default_code = "context_length_exceeded"

    def __init__(self, message: str, *, upstream_message: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.upstream_message = upstream_message or message


class UpstreamContentPolicyError(UpstreamBadRequestError, ContentPolicyError):
    default_code = "content_policy_violation"


class UpstreamNotFoundError(ModelNotFoundError):
    """The provider does not know the deployment's model: a configuration problem."""


_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "exceeds the maximum number of tokens",
    "exceed context limit",  # Anthropic, with max_tokens
    "maximum prompt length",  # xAI
    "exceeds the available context size",  # llama.cpp's server
    "exceed_context_size",
    "model token limit",  # Moonshot
    "too large for model with",  # Mistral
)

# (limit, total, messages, completion) from each provider's wording of an overflow
_OVERFLOW_NUMBERS = tuple(
    re.compile(p)
    for p in (
        # OpenAI, Azure, vLLM, DeepSeek, OpenRouter ("This endpoint's ... you requested about")
        r"maximum context length is (?P<limit>\d+) tokens\. However, (?:your messages resulted in"
        r"|you requested(?: about)?) (?P<total>\d+) tokens(?: \((?P<messages>\d+) in the "
        r"messages, (?P<completion>\d+) in the completion\))?",
        # Anthropic
        r"prompt is too long: (?P<total>\d+) tokens > (?P<limit>\d+) maximum",
        r"exceed context limit: (?P<messages>\d+) \+ (?P<completion>\d+) > (?P<limit>\d+)",
        # Gemini (API and Vertex AI)
        r"input token count \((?P<total>\d+)\) exceeds the maximum number of tokens allowed "
        r"\((?P<limit>\d+)\)",
        # xAI, Moonshot, Mistral, newer vLLM
        r"maximum prompt length is (?P<limit>\d+) but the request contains (?P<total>\d+) tokens",
        r"token limit: (?P<limit>\d+) \(requested: (?P<total>\d+)\)",
        r"contains (?P<total>\d+) tokens.*?too large for model with (?P<limit>\d+) maximum",
        r"maximum context length is (?P<limit>\d+) tokens and your request has (?P<total>\d+)",
    )
)


def context_overflow(status: int, message: str, *, provider: str) -> UpstreamContextWindowError:
    """The client's error for a provider's "the input is too long" (`message`): OpenAI's."""
    return UpstreamContextWindowError(
        overflow_message(message),
        upstream_message=f"{provider} error ({status}): {message}",
        param="messages",
        upstream_status=status,
    )


def overflow_message(message: str) -> str:
    """OpenAI's words for a context overflow, with the numbers the provider's `message` gave:
    the very text OpenAI's API answers, which clients such as Cursor act on."""
    for pattern in _OVERFLOW_NUMBERS:
        m = pattern.search(message)
        if m is None:
            continue
        limit = m["limit"]
        messages, completion = m.groupdict().get("messages"), m.groupdict().get("completion")
        if messages is not None and completion is not None:
            return (
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{int(messages) + int(completion)} tokens ({messages} in the messages, "
                f"{completion} in the completion). Please reduce the length of the messages or "
                "completion."
            )
        return (
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {m['total']} tokens. Please reduce the length of the messages."
        )
    # OpenAI's own wording when it gives no numbers (the Responses API)
    return "Your input exceeds the context window of this model. Please adjust your input and try again."


_POLICY_MARKERS = ("content_policy", "content policy", "content_filter", "safety system")


def from_upstream(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    retry_after: float | None = None,
    provider: str = "upstream",
) -> LitecursorError:
    """Map a provider's HTTP error to the error the client sees.

    401/403 -> 502 (the admin's key is wrong, not the client's; the message never quotes it),
    429 -> 429 with retry-after, 400/422 -> 400 with the provider's message, 404 -> 404,
    408 -> 504, other 4xx -> 400, 5xx -> 502.
    """
    low = message.lower()
    text = f"{provider} error ({status}): {message}"
    if status in (401, 403):
        return UpstreamAuthError(
            f"{provider} rejected the gateway's credentials ({status}); check the deployment's api_key",
            upstream_status=status,
        )
    if status == 429:
        return UpstreamRateLimitError(
            text,
            retry_after=retry_after,
            code=code or "rate_limit_exceeded",
            upstream_status=status,
        )
    if status == 404:
        return UpstreamNotFoundError(text, code=code or "model_not_found", upstream_status=status)
    if status == 408:
        return UpstreamTimeoutError(text, upstream_status=status)
    if status == 409:  # a conflict on the provider's side (e.g. a busy session): worth a retry
        return UpstreamError(text, upstream_status=status, code=code or "upstream_conflict")
    if 400 <= status < 500:
        code_low = (code or "").lower()
        if any(m in low or m in code_low for m in _CONTEXT_MARKERS):
            return context_overflow(status, message, provider=provider)
        if any(m in low or m in code_low for m in _POLICY_MARKERS):
            return UpstreamContentPolicyError(
                text, param=param, code=code or None, upstream_status=status
            )
        return UpstreamBadRequestError(text, param=param, code=code, upstream_status=status)
    return UpstreamError(text, upstream_status=status, code=code or "upstream_error")
