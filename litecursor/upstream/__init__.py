"""Sending upstream requests: the pooled HTTP client, and the in-process mock transport."""

from .client import Timeouts, UpstreamClient, UpstreamResponse

__all__ = ["Timeouts", "UpstreamClient", "UpstreamResponse"]
