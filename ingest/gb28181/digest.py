"""SIP digest authentication (RFC 2617 / RFC 3261 §22, MD5) for REGISTER.

Both sides live here: the registrar's challenge and check
(:class:`NonceBook`, :func:`challenge`, :func:`verify`) and the client's answer
(:func:`authorization`, used by the tests' fake lower platform). Answers with
``qop=auth`` and without ``qop`` (RFC 2069, still sent by many cameras) are
both accepted.

Nonces carry their issue time and an HMAC under a per-process key, so the
registrar keeps no table of them; a nonce older than ``lifetime_s`` is
*stale* (the client retries with a fresh one without asking its user), one
with a bad HMAC is invalid.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

__all__ = [
    "AuthOutcome",
    "DigestError",
    "NonceBook",
    "authorization",
    "challenge",
    "digest_response",
    "parse_digest",
    "verify",
]

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


class DigestError(ValueError):
    """A Digest header that cannot be read."""


class AuthOutcome(enum.Enum):
    """What a REGISTER's Authorization amounts to."""

    OK = "ok"
    MISSING = "missing"  # no Authorization: challenge
    STALE = "stale"  # right password, old nonce: challenge with stale=TRUE
    WRONG = "wrong"  # wrong password, user, realm or nonce: counts as a failed attempt
    MALFORMED = "malformed"


def parse_digest(value: str) -> dict[str, str]:
    """``Digest username="x", nc=00000001`` -> ``{"username": "x", "nc": "00000001"}``."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"not a Digest header: scheme {scheme[:20]!r}")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            raise DigestError(f"malformed Digest parameter near {rest[position : position + 30]!r}")
        name, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[name] = raw
        position = match.end()
    return params


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def digest_response(
    *,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The ``response`` value (MD5; with ``qop=auth`` when ``qop`` is given)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


class NonceBook:
    """Issues nonces and tells valid from stale from forged ones, without keeping them."""

    def __init__(
        self,
        lifetime_s: float = 300.0,
        *,
        key: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key or secrets.token_bytes(32)
        self._lifetime_s = lifetime_s
        self._clock = clock

    def _mac(self, stamp: str, salt: str) -> str:
        return hmac.new(self._key, f"{stamp}:{salt}".encode(), hashlib.sha256).hexdigest()[:24]

    def issue(self) -> str:
        """A fresh nonce."""
        stamp = f"{int(self._clock() * 1000):x}"
        salt = secrets.token_hex(4)
        return f"{stamp}{salt}{self._mac(stamp, salt)}"

    def check(self, nonce: str) -> AuthOutcome:
        """OK for a nonce of ours still in its lifetime, STALE for an old one, else WRONG."""
        if len(nonce) < 33 or not re.fullmatch(r"[0-9a-f]+", nonce):
            return AuthOutcome.WRONG
        stamp, salt, mac = nonce[:-32], nonce[-32:-24], nonce[-24:]
        if not hmac.compare_digest(mac, self._mac(stamp, salt)):
            return AuthOutcome.WRONG
        age = self._clock() - int(stamp, 16) / 1000
        return AuthOutcome.OK if -1 <= age <= self._lifetime_s else AuthOutcome.STALE


def challenge(realm: str, nonce: str, *, stale: bool = False, qop: bool = True) -> str:
    """A ``WWW-Authenticate`` value."""
    value = f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5'
    if qop:
        value += ', qop="auth"'
    if stale:
        value += ", stale=TRUE"
    return value


def verify(
    header: str | None,
    *,
    method: str,
    username: str,
    password: str,
    realm: str,
    nonces: NonceBook,
) -> AuthOutcome:
    """Check an ``Authorization`` header against the expected user's password."""
    if header is None:
        return AuthOutcome.MISSING
    try:
        params = parse_digest(header)
    except DigestError:
        return AuthOutcome.MALFORMED
    needed = ("username", "realm", "nonce", "uri", "response")
    if any(name not in params for name in needed):
        return AuthOutcome.MALFORMED
    if params.get("algorithm", "MD5").upper() != "MD5":
        return AuthOutcome.WRONG
    qop = params.get("qop") or None
    if qop is not None and (qop.lower() != "auth" or "nc" not in params or "cnonce" not in params):
        return AuthOutcome.MALFORMED
    expected = digest_response(
        username=username,
        realm=realm,
        password=password,
        method=method,
        uri=params["uri"],
        nonce=params["nonce"],
        qop=qop,
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
    )
    answer_ok = hmac.compare_digest(expected, params["response"].lower())
    if not answer_ok or params["username"] != username or params["realm"] != realm:
        return AuthOutcome.WRONG
    return nonces.check(params["nonce"])


def authorization(
    www_authenticate: str,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The client's ``Authorization`` value answering a challenge (qop=auth when offered)."""
    params = parse_digest(www_authenticate)
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    offered = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in offered else None
    nc_text = f"{nc:08x}"
    cnonce = cnonce or secrets.token_hex(8)
    response = digest_response(
        username=username,
        realm=realm,
        password=password,
        method=method,
        uri=uri,
        nonce=nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    value = (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5'
    )
    if qop:
        value += f', qop={qop}, nc={nc_text}, cnonce="{cnonce}"'
    return value
