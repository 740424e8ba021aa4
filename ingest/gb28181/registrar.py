"""REGISTER: who may register, digest checks, failed-attempt limits, expiry and unregister.

Pure decisions over a small per-platform record; the bridge applies them.
A lower platform registers with its 20-digit id as the user of the To (and
From) URI and as the digest username; the password is the one its
department file gives. Wrong answers get a fresh challenge until
``max_failures`` in a row, then 403 for ``lockout_s``. A 200 carries the
granted ``Expires``, the Contact back, and ``Date`` (GB/T 28181 devices set
their clocks from it: local time, ``YYYY-MM-DDTHH:MM:SS.mmm``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ingest.gb28181.digest import AuthOutcome, NonceBook, challenge, verify
from ingest.gb28181.sip import NameAddr, SipParseError, SipRequest, SipResponse, make_response

__all__ = ["AuthRecord", "RegisterDecision", "Registrar", "requested_expiry"]

DEFAULT_EXPIRES = 3600
MAX_EXPIRES = 86400
Outcome = Literal["registered", "unregistered", "challenged", "refused"]


@dataclass
class AuthRecord:
    """Failed attempts of one platform in a row, and until when it is refused."""

    failures: int = 0
    locked_until: float = 0.0


@dataclass(frozen=True)
class RegisterDecision:
    """The answer to a REGISTER and what it means for the platform's registration."""

    outcome: Outcome
    response: SipResponse
    expires: int = 0


def requested_expiry(request: SipRequest) -> int | None:
    """Seconds asked for: the Contact's ``expires`` parameter, else ``Expires``; None if garbled."""
    contacts = request.headers.get_all("Contact")
    if contacts and contacts[0].strip() != "*":
        try:
            param = NameAddr.parse(contacts[0]).params.get("expires")
        except SipParseError:
            return None
        if param is not None:
            return int(param) if param.isdigit() else None
    header = request.headers.get("Expires")
    if header is None:
        return DEFAULT_EXPIRES
    return int(header.strip()) if header.strip().isdigit() else None


def _gb_date(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


class Registrar:
    """Decides REGISTER answers for one realm."""

    def __init__(
        self,
        realm: str,
        *,
        nonces: NonceBook | None = None,
        max_failures: int = 3,
        lockout_s: float = 60.0,
        offer_qop: bool = True,
    ) -> None:
        self.realm = realm
        self.nonces = nonces or NonceBook()
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.offer_qop = offer_qop

    def _challenge(self, request: SipRequest, tag: str, stale: bool = False) -> RegisterDecision:
        value = challenge(self.realm, self.nonces.issue(), stale=stale, qop=self.offer_qop)
        response = make_response(request, 401, to_tag=tag, headers=[("WWW-Authenticate", value)])
        return RegisterDecision("challenged", response)

    def decide(
        self,
        request: SipRequest,
        password: str | None,
        record: AuthRecord,
        *,
        now: float,
        wall: datetime,
        tag: str,
    ) -> RegisterDecision:
        """Answer ``request``; ``password`` None means the device is not one of ours."""
        device_id = request.to.user or request.from_.user
        if password is None:
            refused = make_response(request, 403, "Forbidden (unknown device)", to_tag=tag)
            return RegisterDecision("refused", refused)
        if record.locked_until > now:
            refused = make_response(
                request, 403, "Forbidden (too many failed attempts)", to_tag=tag
            )
            return RegisterDecision("refused", refused)
        outcome = verify(
            request.headers.get("Authorization"),
            method="REGISTER",
            username=device_id,
            password=password,
            realm=self.realm,
            nonces=self.nonces,
        )
        if outcome is AuthOutcome.MALFORMED:
            bad = make_response(request, 400, "Bad Request (malformed Authorization)", to_tag=tag)
            return RegisterDecision("refused", bad)
        if outcome is AuthOutcome.WRONG:
            record.failures += 1
            if record.failures >= self.max_failures:
                record.failures, record.locked_until = 0, now + self.lockout_s
                refused = make_response(request, 403, "Forbidden (wrong credentials)", to_tag=tag)
                return RegisterDecision("refused", refused)
        if outcome is not AuthOutcome.OK:
            return self._challenge(request, tag, stale=outcome is AuthOutcome.STALE)
        record.failures = 0
        expires = requested_expiry(request)
        if expires is None:
            bad = make_response(request, 400, "Bad Request (malformed Expires)", to_tag=tag)
            return RegisterDecision("refused", bad)
        expires = min(expires, MAX_EXPIRES)
        headers = [("Expires", str(expires)), ("Date", _gb_date(wall))]
        contacts = request.headers.get_all("Contact")
        if contacts and contacts[0].strip() != "*" and expires:
            contact = NameAddr.parse(contacts[0])
            headers.insert(0, ("Contact", f"<{contact.uri}>;expires={expires}"))
        response = make_response(request, 200, to_tag=tag, headers=headers)
        return RegisterDecision("registered" if expires else "unregistered", response, expires)
