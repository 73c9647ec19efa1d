"""The OCPI `Authorization: Token …` header, its two encodings, and the fallback between them.

OCPI 2.1.1 servers expect the credentials token as is; 2.2+ servers expect it Base64 encoded,
and real servers of every version disagree (ocpi/ocpi#212). In `auto` mode we start with the
version's default, switch once when the server rejects it, and then keep the form that worked
for the whole run, so a platform that wants the other form costs one extra request, not two
per page.
"""

from __future__ import annotations

import base64
import threading
import unicodedata
from typing import Literal

import requests

from tap_ocpi.versions import traits

Encoding = Literal["plain", "base64"]
_REDACTED = "***"


def encode_token(token: str, encoding: Encoding) -> str:
    """Return the header value part after `Token ` for one encoding (RFC 4648, no newline)."""
    if encoding == "base64":
        return base64.b64encode(token.encode("utf-8")).decode("ascii")
    return token


def token_problem(token: str, mode: str = "auto") -> str | None:
    """What keeps a configured token from working, in words that never include the token.

    Checked at start, so a token read from a mounted secret (a trailing newline) or pasted
    with a space fails with one line before any request, not with a header error that
    prints it. Sent as is (plain, and in auto mode on 2.1.1 or after a fallback), it must
    also fit an HTTP header (Latin-1).
    """
    if token != token.strip():
        return "starts or ends with whitespace or a line break (a newline from a secret file?)"
    if any(unicodedata.category(char) == "Cc" for char in token):
        return "contains a line break or another control character"
    if mode != "base64":
        try:
            token.encode("latin-1")
        except UnicodeEncodeError:
            return (
                "contains characters that cannot be sent in an HTTP header (an emoji or "
                "another non-Latin-1 character); if the platform expects the token Base64 "
                "encoded, set token_encoding to base64"
            )
    return None


def default_encoding(version: str) -> Encoding:
    """The encoding OCPI prescribes for a version (versions.TRAITS): plain for 2.1.1 and
    older, Base64 after."""
    try:
        return traits(version).token_form
    except ValueError:
        return "base64"  # a version after 2.x: Base64, as since 2.2


class TokenAuth(requests.auth.AuthBase):
    """Adds the OCPI Authorization header; shared by every stream of a run.

    Only headers are touched: the SDK's authenticators rebuild the query string, which would
    re-encode OCPI next links that must be followed as given.
    """

    def __init__(self, token: str | None, mode: str = "auto") -> None:
        self.token = token or None
        self.mode = mode
        self.encoding: Encoding = "plain" if mode == "plain" else "base64"
        self._proven = mode != "auto"
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.token is not None:
            request.headers["Authorization"] = f"Token {encode_token(self.token, self.encoding)}"
        return request

    @property
    def can_fall_back(self) -> bool:
        """Whether a rejection may still be answered by trying the other encoding."""
        return self.token is not None and not self._proven

    def fall_back(self) -> None:
        """Switch to the other encoding; after this the choice is final for the run."""
        with self._lock:
            self.encoding = "plain" if self.encoding == "base64" else "base64"
            self._proven = True

    def prove(self) -> None:
        """Record that the current encoding was accepted: never switch again."""
        self._proven = True

    def use_version_default(self, version: str) -> None:
        """Before the version is known we guess Base64; afterwards start from the version's rule."""
        if not self._proven:
            self.encoding = default_encoding(version)

    def redact(self, text: str) -> str:
        """Remove the token in either encoding from a text that is about to be shown."""
        if self.token is None:
            return text
        for form in {self.token, encode_token(self.token, "base64")}:
            text = text.replace(form, _REDACTED)
        return text
