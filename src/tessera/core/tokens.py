"""Bearer tokens are stored only as digests; a leaked table lets nobody in."""

import hashlib


def token_digest(plaintext: str) -> str:
    # A plain SHA-256 suffices: tokens are 256 random bits, so there is nothing to brute-force
    # that a slow, salted hash would protect.
    return hashlib.sha256(plaintext.encode()).hexdigest()
