"""Digest authentication and REGISTER decisions (ingest.gb28181.digest, .registrar)."""

from __future__ import annotations

from datetime import datetime

import pytest

from ingest.gb28181.digest import (
    AuthOutcome,
    DigestError,
    NonceBook,
    authorization,
    challenge,
    digest_response,
    parse_digest,
    verify,
)
from ingest.gb28181.registrar import AuthRecord, Registrar, requested_expiry
from ingest.gb28181.sip import SipRequest, parse_message

DEVICE = "43020300002000000002"
REALM = "4302030000"
URI = "sip:43020300002000000001@4302030000"


class Clock:
    """A settable clock for nonce lifetimes."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_rfc2617_example_response() -> None:
    # RFC 2617 section 3.5
    assert (
        digest_response(
            username="Mufasa",
            realm="testrealm@host.com",
            password="Circle Of Life",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop="auth",
            nc="00000001",
            cnonce="0a4f113b",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


def test_parse_digest_handles_quotes_escapes_and_unquoted_values() -> None:
    params = parse_digest(
        'Digest username="4302", realm="a\\"b", nonce="n,1", uri="sip:x", '
        "response=abc, algorithm=MD5, qop=auth, nc=00000001"
    )
    assert params["realm"] == 'a"b'
    assert params["nonce"] == "n,1"
    assert params["nc"] == "00000001"
    with pytest.raises(DigestError, match="not a Digest header"):
        parse_digest("Basic dXNlcjpwYXNz")


@pytest.mark.parametrize("qop", [True, False])
def test_a_right_answer_is_ok_with_and_without_qop(qop: bool) -> None:
    nonces = NonceBook()
    header = authorization(
        challenge(REALM, nonces.issue(), qop=qop),
        method="REGISTER",
        uri=URI,
        username=DEVICE,
        password="s3cret",
    )
    assert ("qop=auth" in header) == qop

    def check(header: str | None, password: str) -> AuthOutcome:
        return verify(
            header,
            method="REGISTER",
            username=DEVICE,
            password=password,
            realm=REALM,
            nonces=nonces,
        )

    assert check(header, "s3cret") is AuthOutcome.OK
    assert check(header, "wrong") is AuthOutcome.WRONG
    assert check(header.replace(DEVICE, "43020300002000000009"), "s3cret") is AuthOutcome.WRONG
    assert check(None, "s3cret") is AuthOutcome.MISSING
    assert check("Digest nonce=x", "s3cret") is AuthOutcome.MALFORMED


def test_nonces_go_stale_and_forged_ones_are_wrong() -> None:
    clock = Clock()
    nonces = NonceBook(lifetime_s=60, clock=clock)
    nonce = nonces.issue()
    assert nonces.check(nonce) is AuthOutcome.OK
    clock.now += 61
    assert nonces.check(nonce) is AuthOutcome.STALE
    assert nonces.check(nonce[:-1] + ("0" if nonce[-1] != "0" else "1")) is AuthOutcome.WRONG
    assert NonceBook().check(nonce) is AuthOutcome.WRONG  # another process's key
    assert nonces.check("short") is AuthOutcome.WRONG


def _register(extra: str = "", expires: str = "Expires: 3600\r\n") -> SipRequest:
    text = (
        f"REGISTER {URI} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1\r\n"
        f"From: <sip:{DEVICE}@{REALM}>;tag=1\r\n"
        f"To: <sip:{DEVICE}@{REALM}>\r\n"
        "Call-ID: c1\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{DEVICE}@10.0.0.5:5060>\r\n{expires}{extra}Content-Length: 0\r\n\r\n"
    )
    request = parse_message(text.encode())
    assert isinstance(request, SipRequest)
    return request


def _answer(registrar: Registrar, request: SipRequest, password: str) -> SipRequest:
    first = registrar.decide(request, "s3cret", AuthRecord(), now=0, wall=datetime.now(), tag="t")
    value = first.response.headers.get("WWW-Authenticate") or ""
    auth = authorization(value, method="REGISTER", uri=URI, username=DEVICE, password=password)
    return _register(f"Authorization: {auth}\r\n", _expires(request))


def _expires(request: SipRequest) -> str:
    value = request.headers.get("Expires")
    return f"Expires: {value}\r\n" if value is not None else ""


def test_register_challenge_then_ok_with_date_contact_and_expires() -> None:
    registrar = Registrar(REALM)
    record = AuthRecord()
    first = registrar.decide(_register(), "s3cret", record, now=0, wall=datetime.now(), tag="t")
    assert (first.outcome, first.response.status) == ("challenged", 401)
    assert 'qop="auth"' in (first.response.headers.get("WWW-Authenticate") or "")
    wall = datetime(2024, 5, 1, 8, 30, 15, 123456)
    second = registrar.decide(
        _answer(registrar, _register(), "s3cret"), "s3cret", record, now=0, wall=wall, tag="t"
    )
    assert (second.outcome, second.response.status, second.expires) == ("registered", 200, 3600)
    assert second.response.headers.get("Date") == "2024-05-01T08:30:15.123"
    assert second.response.headers.get("Expires") == "3600"
    assert second.response.headers.get("Contact") == f"<sip:{DEVICE}@10.0.0.5:5060>;expires=3600"
    assert second.response.to.tag == "t"


def test_wrong_passwords_get_401_then_403_and_a_lockout() -> None:
    registrar = Registrar(REALM, max_failures=3, lockout_s=30)
    record = AuthRecord()
    statuses = []
    for _ in range(3):
        wrong = _answer(registrar, _register(), "guess")
        decision = registrar.decide(wrong, "s3cret", record, now=10, wall=datetime.now(), tag="t")
        statuses.append(decision.response.status)
    assert statuses == [401, 401, 403]
    right = _answer(registrar, _register(), "s3cret")
    locked = registrar.decide(right, "s3cret", record, now=20, wall=datetime.now(), tag="t")
    assert (locked.response.status, locked.response.reason) == (
        403,
        "Forbidden (too many failed attempts)",
    )
    later = registrar.decide(right, "s3cret", record, now=41, wall=datetime.now(), tag="t")
    assert later.response.status == 200


def test_unknown_devices_are_refused_and_expires_zero_unregisters() -> None:
    registrar = Registrar(REALM)
    unknown = registrar.decide(_register(), None, AuthRecord(), now=0, wall=datetime.now(), tag="t")
    assert (unknown.outcome, unknown.response.status) == ("refused", 403)
    zero = _answer(registrar, _register(expires="Expires: 0\r\n"), "s3cret")
    gone = registrar.decide(zero, "s3cret", AuthRecord(), now=0, wall=datetime.now(), tag="t")
    assert (gone.outcome, gone.response.status, gone.expires) == ("unregistered", 200, 0)
    assert gone.response.headers.get("Contact") is None


def test_requested_expiry_prefers_the_contact_parameter() -> None:
    contact = _register(expires="Expires: 3600\r\n").headers
    contact.set("Contact", f"<sip:{DEVICE}@10.0.0.5:5060>;expires=120")
    request = _register()
    request.headers = contact
    assert requested_expiry(request) == 120
    assert requested_expiry(_register(expires="")) == 3600
    assert requested_expiry(_register(expires="Expires: soon\r\n")) is None
