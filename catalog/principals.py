"""Bearer tokens: creating, checking, revoking and listing the principals that hold them.

A token is ``cg_`` followed by 32 random bytes in URL-safe base64. It is shown
once, when it is created; the catalog keeps only its SHA-256 (hex). Writes are
flushed, not committed: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import ROLES, Principal, utcnow

__all__ = [
    "TOKEN_PREFIX",
    "InvalidPrincipal",
    "PrincipalExists",
    "authenticate",
    "create_principal",
    "hash_token",
    "list_principals",
    "revoke_principal",
]

TOKEN_PREFIX = "cg_"


class PrincipalExists(Exception):
    """A principal with this name already exists (names are unique, revoked ones included)."""


class InvalidPrincipal(ValueError):
    """The role is unknown, or a department role was asked for without a department."""


def hash_token(token: str) -> str:
    """The SHA-256 of a token, hex: the only form in which tokens are stored or cached."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_principal(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    department_id: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a principal and return its new token (the only time the token is seen).

    Raises `InvalidPrincipal` for an unknown role, a `department` role without a
    department (or a department given to another role), an empty name or a
    naive `expires_at`; `PrincipalExists` when the name is taken. After
    `PrincipalExists` raised by the database (a concurrent create), the caller's
    transaction must be rolled back.
    """
    if not name:
        raise InvalidPrincipal("a principal needs a name")
    if role not in ROLES:
        raise InvalidPrincipal(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "department" and not department_id:
        raise InvalidPrincipal("the department role needs a department id")
    if role != "department" and department_id is not None:
        raise InvalidPrincipal(f"only the department role takes a department, not {role!r}")
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidPrincipal("expires_at must be timezone-aware")
    taken = await session.scalar(select(Principal.id).where(Principal.name == name))
    if taken is not None:
        raise PrincipalExists(f"a principal named {name!r} already exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        Principal(
            name=name,
            role=role,
            department_id=department_id,
            token_hash=hash_token(token),
            created_at=utcnow(),
            expires_at=expires_at,
            revoked_at=None,
        )
    )
    try:
        await session.flush()
    except IntegrityError as exc:  # lost a race with another create of the same name
        raise PrincipalExists(f"a principal named {name!r} already exists") from exc
    return token


async def authenticate(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> Principal | None:
    """The live principal holding `token`, or None when unknown, expired or revoked.

    The lookup is by the token's SHA-256 through a unique index, so no
    constant-time comparison is needed: the database compares hashes, and
    timing can at most reveal a prefix of a hash, from which an attacker
    learns nothing about any token (the preimage stays unknown).
    """
    if not token.startswith(TOKEN_PREFIX):
        return None
    principal = await session.scalar(
        select(Principal).where(Principal.token_hash == hash_token(token))
    )
    if principal is None or principal.revoked_at is not None:
        return None
    if principal.expires_at is not None and principal.expires_at <= (now or utcnow()):
        return None
    return principal


async def revoke_principal(
    session: AsyncSession, name: str, *, now: datetime | None = None
) -> bool:
    """Revoke the principal called `name`; False when there is none or it was already revoked."""
    principal = await session.scalar(select(Principal).where(Principal.name == name))
    if principal is None or principal.revoked_at is not None:
        return False
    principal.revoked_at = now or utcnow()
    await session.flush()
    return True


async def list_principals(session: AsyncSession) -> list[Principal]:
    """Every principal, revoked and expired ones included, by name."""
    result = await session.scalars(select(Principal).order_by(Principal.name))
    return list(result)
