"""Server-side HTTP authentication for the farm's cameras: Basic and Digest (RFC 7616).

Test infrastructure, written to be strict rather than complete: Digest offers only
``algorithm=MD5, qop="auth"`` (what IP cameras offer), issues nonces it can verify
without state (a timestamp and its HMAC), answers an expired nonce with
``stale=true``, and checks the username, realm, opaque, request URI and response hash
of every request. Replays within a nonce's lifetime are not tracked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from enum import Enum

REALM = "camgrid-farm"

_PAIRS = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class Verdict(Enum):
    """The outcome of checking one request's credentials."""

    OK = "ok"
    MISSING = "missing"
    WRONG = "wrong"
    STALE = "stale"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_auth_params(value: str) -> dict[str, str]:
    """``key=value, key="quoted"`` pairs of a Digest header, quotes and escapes removed."""
    out: dict[str, str] = {}
    for m in _PAIRS.finditer(value):
        quoted, bare = m.group(2), m.group(3)
        if quoted is not None:
            out[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted)
        else:
            out[m.group(1).lower()] = bare
    return out


def check_basic(header: str | None, username: str, password: str) -> Verdict:
    """Check an ``Authorization: Basic …`` header against one account."""
    if not header:
        return Verdict.MISSING
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return Verdict.MISSING
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return Verdict.WRONG
    user, sep, pw = decoded.partition(":")
    good = sep == ":" and hmac.compare_digest(user.encode(), username.encode())
    good = hmac.compare_digest(pw.encode(), password.encode()) and good
    return Verdict.OK if good else Verdict.WRONG


class DigestAuthority:
    """Issues Digest challenges and verifies answers for every camera of one farm."""

    def __init__(self, *, nonce_ttl: float = 600.0, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self._ttl = nonce_ttl
        self.opaque = hashlib.sha256(self._secret + b"opaque").hexdigest()[:32]

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def new_nonce(self) -> str:
        """A nonce that carries its issue time and an HMAC of it."""
        stamp = f"{time.time_ns() // 1000:x}"
        return f"{stamp}.{self._sign(stamp)}"

    def nonce_state(self, nonce: str) -> Verdict:
        """OK for a fresh nonce of ours, STALE for an expired one, WRONG for a forgery."""
        stamp, _, mac = nonce.partition(".")
        if not mac or not hmac.compare_digest(mac, self._sign(stamp)):
            return Verdict.WRONG
        try:
            issued = int(stamp, 16) / 1e6
        except ValueError:
            return Verdict.WRONG
        return Verdict.OK if time.time() - issued <= self._ttl else Verdict.STALE

    def challenge(self, *, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` value of a 401."""
        value = (
            f'Digest realm="{REALM}", qop="auth", algorithm=MD5, '
            f'nonce="{self.new_nonce()}", opaque="{self.opaque}"'
        )
        return value + ", stale=true" if stale else value

    def check(
        self, header: str | None, *, method: str, uri: str, username: str, password: str
    ) -> Verdict:
        """Verify an ``Authorization: Digest …`` header for ``method`` on ``uri``."""
        if not header:
            return Verdict.MISSING
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "digest":
            return Verdict.MISSING
        p = parse_auth_params(rest)
        needed = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if any(k not in p for k in needed) or p["qop"] != "auth":
            return Verdict.WRONG
        if p.get("algorithm", "MD5").upper() != "MD5" or p.get("opaque") != self.opaque:
            return Verdict.WRONG
        if p["realm"] != REALM or p["uri"] != uri or p["username"] != username:
            return Verdict.WRONG
        ha1 = _md5(f"{username}:{REALM}:{password}")
        ha2 = _md5(f"{method}:{uri}")
        expected = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        if not hmac.compare_digest(expected, p["response"].lower()):
            return Verdict.WRONG
        # a right answer to an old nonce is STALE, so the client retries without asking
        return self.nonce_state(p["nonce"])
