"""API key material: making, parsing and hashing `<prefix>.<secret>` keys.

The secret is 256 random bits, so a slow password hash (bcrypt, PBKDF2 with a million rounds)
would only add latency to every API call without making a guess any less hopeless. Like
djangorestframework-api-key, keys use a salted SHA-512 through Django's password-hasher
interface; the hasher is used only here, never for a person's password.
"""

import hashlib
import secrets

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.crypto import constant_time_compare

PREFIX_BYTES = 4  # 8 hex characters, shown in lists to tell keys apart
SECRET_BYTES = 32
SCHEME = "Api-Key"


class ApiKeyHasher(BasePasswordHasher):
    algorithm = "api_key_sha512"

    def encode(self, password: str, salt: str) -> str:
        self._check_encode_args(password, salt)
        digest = hashlib.sha512((salt + password).encode()).hexdigest()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded: str) -> dict:
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        decoded = self.decode(encoded)
        return constant_time_compare(encoded, self.encode(password, decoded["salt"]))

    def safe_summary(self, encoded: str) -> dict:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "salt": mask_hash(decoded["salt"]), "hash": mask_hash(decoded["hash"])}

    def harden_runtime(self, password, encoded):
        pass


hasher = ApiKeyHasher()


def new_key() -> tuple[str, str]:
    """A fresh (prefix, secret) pair."""
    return secrets.token_hex(PREFIX_BYTES), secrets.token_urlsafe(SECRET_BYTES)


def key_hash(secret: str) -> str:
    return hasher.encode(secret, hasher.salt())


def key_matches(secret: str, hashed: str) -> bool:
    try:
        return hasher.verify(secret, hashed)
    except (ValueError, AssertionError):
        return False


def key_split(raw_key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a presented key, or None when it is not shaped like one of ours."""
    prefix, dot, secret = raw_key.strip().partition(".")
    if not dot or not prefix or not secret or len(prefix) > 16:
        return None
    return prefix, secret
