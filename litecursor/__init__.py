"""litecursor: a small, fast, self-hosted HTTPS gateway between Cursor (or any OpenAI client) and any LLM provider."""

__version__ = "0.1.0"
