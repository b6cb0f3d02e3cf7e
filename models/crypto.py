"""Encryption at rest of the secrets stored for accounts (TOTP keys), with the keys of SECRET_KEY.

Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet: the first key encrypts, every key decrypts, so a
new key can be put first and the rows re-encrypted (`python app.py keys rotate`) before the old one goes.
A stored value is `fernet:<token>`; a value without the prefix is a plaintext row of before encryption,
still read, and encrypted by `seal_plaintext_rows()` at start.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"

_explicit: list[str] | None = None
_cached: tuple[tuple[str, ...], MultiFernet] | None = None


class SecretKeyError(RuntimeError):
    """A stored secret cannot be decrypted with the keys in force; the message says what to do."""


def use_keys(keys: Sequence[str] | None) -> None:
    """Encrypt and decrypt with these keys (the first encrypts); None: the keys of the current settings."""
    global _explicit
    _explicit = list(keys) if keys is not None else None


def _keys() -> tuple[str, ...]:
    """The keys in force: set by use_keys, else SECRET_KEY (or the demo's key file) of the current settings."""
    if _explicit:
        return tuple(_explicit)
    import settings as settings_module

    return tuple(settings_module.ensure_secret_key(settings_module.get()).secret_keys)


def box() -> MultiFernet:
    """The MultiFernet of the keys in force."""
    global _cached
    keys = _keys()
    if _cached is None or _cached[0] != keys:
        _cached = (keys, MultiFernet([Fernet(k.encode("ascii")) for k in keys]))
    return _cached[1]


def generate_key() -> str:
    """A new random key, to put first in SECRET_KEY."""
    return Fernet.generate_key().decode("ascii")


def is_sealed(stored: str) -> bool:
    """True when a stored value is encrypted (else it is empty or a plaintext row of before encryption)."""
    return stored.startswith(PREFIX)


def seal(plain: str) -> str:
    """The stored form of a secret: encrypted with the first key ("" stays "")."""
    if not plain:
        return ""
    return PREFIX + box().encrypt(plain.encode("utf-8")).decode("ascii")


def reveal(stored: str) -> str:
    """The secret of a stored value (a plaintext row of before encryption is returned as it is)."""
    if not is_sealed(stored):
        return stored
    try:
        return box().decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretKeyError(
            "Impossible de déchiffrer un secret enregistré : SECRET_KEY ne contient plus la clé qui l'a chiffré. "
            "Remettez l'ancienne clé après la nouvelle dans SECRET_KEY, puis lancez `python app.py keys rotate`."
        ) from None


def reseal(stored: str) -> str:
    """A stored value encrypted again with the first key (plaintext rows get encrypted)."""
    if not stored:
        return ""
    if not is_sealed(stored):
        return seal(stored)
    try:
        return PREFIX + box().rotate(stored[len(PREFIX):].encode("ascii")).decode("ascii")
    except InvalidToken:
        reveal(stored)  # raises the French explanation
        raise
