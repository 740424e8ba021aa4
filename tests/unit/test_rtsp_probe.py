"""Unit tests of the rtsp connector's pure parts: URL credentials, Digest, status mapping."""

from __future__ import annotations

import pytest

from ingest.connectors import AuthRejected, BadResponse, SnapshotError
from ingest.connectors.rtsp import split_credentials, url_with_credentials
from ingest.connectors.rtsp_probe import (
    authorization,
    challenge_params,
    digest_authorization,
    status_error,
)


def test_credentials_are_percent_encoded_into_the_userinfo() -> None:
    url = url_with_credentials("rtsp://cam.example:8554/Streaming/101?tcp", "ad:min", "p@ss/w%rd")
    assert url == "rtsp://ad%3Amin:p%40ss%2Fw%25rd@cam.example:8554/Streaming/101?tcp"
    assert split_credentials(url) == (
        "rtsp://cam.example:8554/Streaming/101?tcp",
        "ad:min",
        "p@ss/w%rd",
    )


def test_target_credentials_replace_those_in_the_url() -> None:
    url = url_with_credentials("rtsp://old:secret@[::1]:554/live", "new", "pw")
    assert url == "rtsp://new:pw@[::1]:554/live"


def test_no_username_keeps_the_url() -> None:
    assert url_with_credentials("rtsp://a:b@cam/x", None, "pw") == "rtsp://a:b@cam/x"
    assert split_credentials("rtsp://cam/x") == ("rtsp://cam/x", None, None)


def test_digest_matches_rfc_2617() -> None:
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = digest_authorization(
        challenge_params(challenge),
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert "qop=auth," in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value


def test_digest_without_qop_rfc_2069() -> None:
    value = digest_authorization(
        {"realm": "r", "nonce": "n"},
        method="DESCRIBE",
        uri="rtsp://h/s",
        username="u",
        password="p",
    )
    # MD5(MD5("u:r:p"):n:MD5("DESCRIBE:rtsp://h/s"))
    assert 'response="607d88858b86ffea4761dc877df0f9a6"' in value
    assert "qop" not in value


def test_digest_is_preferred_over_basic() -> None:
    both = ('Basic realm="cam"', 'Digest realm="cam", nonce="abc"')
    assert authorization(both, "rtsp://h/s", "u", "p").startswith("Digest ")
    assert authorization(both[:1], "rtsp://h/s", "u", "p") == "Basic dTpw"


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (401, AuthRejected, "auth rejected"),
        (403, AuthRejected, "auth rejected"),
        (404, BadResponse, "stream not found"),
        (454, BadResponse, "RTSP 454"),
        (200, SnapshotError, "cannot open stream"),
    ],
)
def test_status_errors(status: int, kind: type[SnapshotError], reason: str) -> None:
    error = status_error(status)
    assert type(error) is kind
    assert error.reason == reason
