"""Sending upstream requests: the pooled HTTP client, and the in-process mock transport."""

from .client import ERROR_BODY, Timeouts, UpstreamClient, UpstreamResponse

__all__ = ["ERROR_BODY", "Timeouts", "UpstreamClient", "UpstreamResponse"]
