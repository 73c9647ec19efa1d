"""The Authorization header, its two forms and redaction."""

from __future__ import annotations

import requests

from tap_ocpi.auth import TokenAuth, default_encoding, encode_token


def _header(auth: TokenAuth) -> str | None:
    request = requests.Request("GET", "https://x.example/ocpi/versions?a=1:2").prepare()
    return auth(request).headers.get("Authorization")


def test_base64_is_rfc4648_without_newline() -> None:
    # The spec's own sample encodes a trailing newline (ZXhhbXBsZS10b2tlbgo=): we must not.
    assert encode_token("example-token", "base64") == "ZXhhbXBsZS10b2tlbg=="


def test_default_encoding_per_version() -> None:
    assert default_encoding("2.1.1") == "plain"
    assert default_encoding("2.0") == "plain"
    assert default_encoding("2.2") == "base64"
    assert default_encoding("2.2.1") == "base64"
    assert default_encoding("2.3.0") == "base64"


def test_no_token_no_header() -> None:
    assert _header(TokenAuth(None)) is None
    assert _header(TokenAuth("")) is None


def test_auto_falls_back_once_then_keeps_the_form() -> None:
    auth = TokenAuth("abc", "auto")
    auth.use_version_default("2.1.1")
    assert _header(auth) == "Token abc"
    assert auth.can_fall_back
    auth.fall_back()
    assert _header(auth) == "Token YWJj"
    assert not auth.can_fall_back


def test_proven_form_is_not_changed_by_version_default() -> None:
    auth = TokenAuth("abc", "auto")
    auth.prove()
    auth.use_version_default("2.1.1")
    assert _header(auth) == "Token YWJj"


def test_explicit_encodings_never_fall_back() -> None:
    assert not TokenAuth("abc", "plain").can_fall_back
    assert _header(TokenAuth("abc", "plain")) == "Token abc"
    assert _header(TokenAuth("abc", "base64")) == "Token YWJj"


def test_header_only_query_untouched() -> None:
    request = requests.Request(
        "GET", "https://x.example/l?date_from=2024-01-01T00:00:00Z"
    ).prepare()
    before = request.url
    TokenAuth("abc")(request)
    assert request.url == before


def test_redact_removes_both_forms() -> None:
    auth = TokenAuth("s3cret-token")
    text = auth.redact("a s3cret-token b czNjcmV0LXRva2Vu c")
    assert "s3cret" not in text
    assert "czNjcmV0LXRva2Vu" not in text
