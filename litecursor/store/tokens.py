"""Virtual keys: how they are made, how they are stored (a SHA-256 hash), how they are shown."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "sk-"
#: a key the admin chooses (`/key/generate` with `key`) must be at least this long, so that
#: the reasoning below about the hash holds for it too
MIN_CUSTOM_LENGTH = 32


def generate() -> str:
    """`sk-` and 256 random bits, URL-safe base64 (46 characters)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256, hex.

    A fast unsalted hash is right here, unlike for passwords: a generated key carries 256 random
    bits, so nobody holding the database can search the key space, however fast the hash;
    salting and slow hashes (bcrypt, argon2) defend low-entropy secrets chosen by people, and
    would cost milliseconds of CPU on every new key seen, while this lets the request path find a
    key by its hash in a dict."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_name(key: str) -> str:
    """What may be shown of a key once it is made: `sk-...` and its last four characters."""
    return f"{PREFIX}...{key[-4:]}"


def looks_hashed(value: str) -> bool:
    """The admin API accepts a key or its hash wherever a key is named (as LiteLLM does)."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def token_of(value: str) -> str:
    """The stored hash for a key given either as the key or as its hash."""
    return value if looks_hashed(value) else hash_key(value)
