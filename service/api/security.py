"""API keys: random tokens, stored as SHA-256 hashes, each for one or more parks or admin.

A token looks like ``mgk_<43 url-safe characters>`` (256 random bits), so a
plain SHA-256 is enough to store it (no salt or slow hash is needed for
secrets that are not passwords); only its first characters (``prefix``) are
kept in clear, to recognise it in listings.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from microgrid.messages import Message
from service.api.db import ApiKeyParkRow, ApiKeyRow, ParkRow
from service.api.problems import Forbidden, InvalidInput, Unauthorized

TOKEN_PREFIX = "mgk_"
PREFIX_CHARS = 12


def new_token() -> str:
    """A new API key: ``mgk_`` and 256 random bits, url-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of a token, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's id (None for the settings' admin key), admin or its parks."""

    key_id: int | None
    name: str
    is_admin: bool
    park_ids: frozenset[str] = field(default_factory=frozenset)

    def can_access(self, park_id: str) -> bool:
        return self.is_admin or park_id in self.park_ids

    def require_park(self, park_id: str) -> None:
        """Raise 403 unless this key may use ``park_id`` (the same answer whether the park exists or not)."""
        if not self.can_access(park_id):
            raise Forbidden(Message("this API key is not valid for park {park_id!r}; use a key issued for it",
                                    park_id=park_id))

    def require_admin(self, action: str) -> None:
        if not self.is_admin:
            raise Forbidden(Message("{action} needs an admin API key", action=action))


def authenticate(session: Session, token: str | None, admin_key: str | None = None) -> Principal:
    """The principal of ``token``, or 401.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    token : str or None
        The ``X-API-Key`` header (or the bearer token).
    admin_key : str, optional
        The plaintext admin key from the settings.
    """
    if not token:
        raise Unauthorized(Message("no API key; send it in the X-API-Key header"))
    if admin_key and hmac.compare_digest(token.encode(), admin_key.encode()):
        return Principal(key_id=None, name="settings admin key", is_admin=True)
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_token(token)))
    if row is None:
        raise Unauthorized(Message("unknown API key; ask the park's administrator for one"))
    return Principal(key_id=row.id, name=row.name, is_admin=row.is_admin, park_ids=frozenset(row.park_ids))


def create_key(session: Session, name: str, park_ids: list[str], admin: bool = False) -> tuple[ApiKeyRow, str]:
    """Store a new key (hashed) and return its row and the token, which is not stored.

    Raises
    ------
    InvalidInput
        A park in ``park_ids`` is not registered.
    """
    unknown = sorted(set(park_ids) - set(session.scalars(select(ParkRow.id).where(ParkRow.id.in_(park_ids)))))
    if unknown:
        raise InvalidInput(Message("park_ids: unknown park(s) {unknown}; register them first",
                                   unknown=', '.join(unknown)),
                           errors=[{"field": "park_ids", "reason": Message("unknown park(s) {unknown}",
                                                                           unknown=', '.join(unknown))}])
    token = new_token()
    row = ApiKeyRow(name=name, key_hash=hash_token(token), prefix=token[:PREFIX_CHARS], is_admin=admin,
                    parks=[ApiKeyParkRow(park_id=p) for p in sorted(set(park_ids))])
    session.add(row)
    session.commit()
    return row, token
