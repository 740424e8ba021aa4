"""Unit tests of the hand-written ONVIF SOAP: WS-Security digest, envelopes, faults."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest

from ingest.connectors import AuthRejected, BadResponse
from ingest.connectors.onvif_soap import (
    SOAP_ENV,
    WSSE,
    WSU,
    OnvifCredentials,
    envelope,
    parse_answer,
    password_digest,
    security_header,
)


def test_password_digest_matches_the_onvif_programmers_guide() -> None:
    nonce = base64.b64decode("LKqI6G/AikKCQrN0zqZFlg==")
    assert password_digest(nonce, "2010-09-16T07:50:45Z", "userpassword") == (
        "tuOSpGlFlIXsozq4HFNeeGeFLEI="
    )


def test_envelope_escapes_the_username_and_never_holds_the_password() -> None:
    credentials = OnvifCredentials("a<d&m>in", "pa<ss>&word")
    data = envelope("<tds:GetDeviceInformation/>", credentials)
    root = ET.fromstring(data)
    token = root.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    assert token is not None
    assert token.findtext(f"{{{WSSE}}}Username") == "a<d&m>in"
    assert token.findtext(f"{{{WSU}}}Created", "").endswith("Z")
    assert b"pa<ss>" not in data
    assert b"pa&lt;ss" not in data
    assert "pa<ss>" not in repr(credentials)


def test_security_header_is_fresh_each_time() -> None:
    credentials = OnvifCredentials("admin", "pw")
    assert security_header(credentials) != security_header(credentials)


def _fault(subcode: str) -> bytes:
    return (
        f'<e:Envelope xmlns:e="{SOAP_ENV}" xmlns:ter="http://www.onvif.org/ver10/error">'
        "<e:Body><e:Fault><e:Code><e:Value>e:Sender</e:Value><e:Subcode>"
        f"<e:Value>ter:{subcode}</e:Value></e:Subcode></e:Code>"
        "<e:Reason><e:Text>nope</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>"
    ).encode()


def test_not_authorized_fault_is_auth_rejected() -> None:
    with pytest.raises(AuthRejected):
        parse_answer(_fault("NotAuthorized"))


def test_other_faults_name_their_subcode() -> None:
    with pytest.raises(BadResponse, match=r"^SOAP fault: ActionNotSupported$"):
        parse_answer(_fault("ActionNotSupported"))


@pytest.mark.parametrize(
    "data", [b"<html><body>login</body></html>", b"not xml at all", b"<?xml version='1.0'?>"]
)
def test_non_soap_answers(data: bytes) -> None:
    with pytest.raises(BadResponse, match=r"^not a SOAP answer$"):
        parse_answer(data)
