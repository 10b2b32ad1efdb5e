"""Tokens and their hashes. High-entropy tokens are stored as SHA-256, never in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets


def new_token(prefix: str, nbytes: int = 24) -> str:
    return f"{prefix}_{_secrets.token_urlsafe(nbytes)}"


def token_hash(token: str) -> str:
    # A random 192-bit token cannot be brute-forced, so a fast hash is the right tool (unlike passwords).
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
