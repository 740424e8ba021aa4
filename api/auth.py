"""Bearer-token authentication: the middleware and a short-lived cache of token lookups.

Every path but `PUBLIC_PATHS` needs `Authorization: Bearer TOKEN`; a missing,
unknown, expired or revoked token gets a 401 problem with `WWW-Authenticate`.
Roles are checked per route (`Route.roles`); a department token's scope (its
own department's cameras, for captures and overrides) by the handlers, with
`require_own_department`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from api.context import CATALOG, IDENTITY, Identity
from api.problems import Problem
from catalog.models import utcnow
from catalog.principals import authenticate, hash_token

__all__ = [
    "PUBLIC_PATHS",
    "TOKEN_CACHE",
    "TokenCache",
    "auth_middleware",
    "require_own_department",
]

#: Paths anyone may call: liveness, metrics, the spec, its page, and the console page.
PUBLIC_PATHS: Final = frozenset(
    {"/api/v1/health", "/api/v1/metrics", "/api/v1/openapi.json", "/api/v1/docs", "/"}
)


class TokenCache:
    """Successful token lookups, kept for `ttl_s` seconds, keyed by the token's SHA-256.

    A cached token costs a search no query. The price: revoking a token takes
    effect in each API process within `ttl_s` seconds, not at once. Expiry is
    checked on every hit, so an expiring token stops exactly on time. Failed
    lookups are not cached, so a token created a moment ago works at once.
    """

    def __init__(
        self,
        ttl_s: float = 5.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Identity]] = OrderedDict()

    def get(self, token_hash: str) -> Identity | None:
        """The cached identity for this hash, if still fresh and not expired."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        stored_at, identity = entry
        expired = identity.expires_at is not None and identity.expires_at <= utcnow()
        if self._clock() - stored_at >= self.ttl_s or expired:
            del self._entries[token_hash]
            return None
        return identity

    def put(self, token_hash: str, identity: Identity) -> None:
        """Remember a successful lookup, dropping the oldest entry when full."""
        self._entries[token_hash] = (self._clock(), identity)
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


TOKEN_CACHE = web.AppKey("token_cache", TokenCache)


def _unauthorized(detail: str, *, invalid_token: bool) -> Problem:
    challenge = 'Bearer realm="camgrid"'
    if invalid_token:
        challenge += ', error="invalid_token"'
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


async def _identify(request: web.Request, token: str) -> Identity | None:
    cache = request.app[TOKEN_CACHE]
    token_hash = hash_token(token)
    identity = cache.get(token_hash)
    if identity is not None:
        return identity
    async with request.app[CATALOG].sessions() as session:
        principal = await authenticate(session, token)
        if principal is None:
            return None
        identity = Identity(
            principal.name, principal.role, principal.department_id, principal.expires_at
        )
    cache.put(token_hash, identity)
    return identity


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a live bearer token on every route but the public ones and unmatched paths."""
    if request.path in PUBLIC_PATHS or request.match_info.route.resource is None:
        # An unmatched path answers 404 or 405 whoever asks; nothing there to protect.
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("this route needs Authorization: Bearer TOKEN", invalid_token=False)
    identity = await _identify(request, token.strip())
    if identity is None:
        raise _unauthorized("the token is unknown, expired or revoked", invalid_token=True)
    request[IDENTITY] = identity
    return await handler(request)


def require_own_department(identity: Identity, department_id: str, action: str) -> None:
    """Refuse (403) a department token acting on another department's camera.

    Operators and admins act on every camera; `action` completes the sentence
    "a department token may only … its own department's cameras".
    """
    if identity.role == "department" and identity.department_id != department_id:
        raise Problem(403, f"a department token may only {action} its own department's cameras")
