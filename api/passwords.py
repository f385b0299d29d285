"""Password hashing for people: scrypt from the standard library, a memory-hard, slow KDF.

Stored as ``scrypt$n$r$p$salt$hash`` (base64), so the cost can be raised later and old hashes
still verify (:func:`needs_rehash` tells when to re-hash at the next login).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

# n=2**14, r=8: 16 MiB and about 60 ms per hash on one core of the development machine, the
# parameters OWASP lists for scrypt; a guesser pays the same for every try.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
KEY_BYTES: Final = 32
MIN_PASSWORD_LEN: Final = 10
MAX_PASSWORD_LEN: Final = 256  # scrypt hashes any length; a megabyte "password" is an attack


class PasswordPolicyError(ValueError):
    pass


def check_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LEN:
        raise PasswordPolicyError(f"a password has at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise PasswordPolicyError(f"a password has at most {MAX_PASSWORD_LEN} characters")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when the password matches. With nothing stored, a hash is still computed, so a
    missing user costs a guesser the same time as a wrong password."""
    if len(password) > MAX_PASSWORD_LEN:
        return False
    if not stored:
        _scrypt(password, b"\0" * SALT_BYTES, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    return not stored.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")
