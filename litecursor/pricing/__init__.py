"""Prices per token and what a request costs."""

from .cost import OVERRIDE_FIELDS, Price, cost, estimate_usage, tokens_in_text
from .table import PriceFileError, PriceTable, parse_litellm, shipped, to_entries

__all__ = [
    "OVERRIDE_FIELDS",
    "Price",
    "PriceFileError",
    "PriceTable",
    "cost",
    "estimate_usage",
    "parse_litellm",
    "shipped",
    "to_entries",
    "tokens_in_text",
]
