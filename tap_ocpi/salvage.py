"""What can be read of a list page that does not decode as a whole.

One unreadable value (a NaN literal, a lone surrogate, invalid UTF-8, a value nested ten
thousand levels deep) makes the whole body fail to decode, and a page that always fails
would block its stream on every run. When the envelope itself is intact, a small scanner
cuts the `data` array into its elements' byte slices, each is decoded on its own, and an
element that still fails becomes an `Unreadable`: its key fields (read one by one, only
short strings and numbers) and a reason, to be reported as a bad record. Never on the hot
path: only after the whole page failed to decode.

The scanner is linear in the body and never recursive: it tracks brackets with a counter,
and skips strings with `find`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from tap_ocpi.schemas import PRIMARY_KEYS

_decode = msgspec.json.Decoder().decode
#: Every field that is part of some stream's key (only these are read from a bad element).
KEY_FIELDS = frozenset(k for keys in PRIMARY_KEYS.values() for k in keys)
#: A key value longer than this is not a key (and is not shown).
_MAX_KEY_BYTES = 256
_NON_WS = re.compile(rb"[^ \t\r\n]")
_SPECIAL = re.compile(rb'["\[\]{}]')
_SCALAR_END = re.compile(rb"[,\]}\s]")
BOM = b"\xef\xbb\xbf"


class UnscannableError(ValueError):
    """The body is not a JSON object with a delimitable `data` array: truly unreadable."""


@dataclass(frozen=True)
class Unreadable:
    """One element of `data` that could not be decoded."""

    #: The element's key fields that could be read, and a digest of its bytes (so two bad
    #: elements without readable keys count as two).
    key: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Salvaged:
    status_code: Any
    data: list[Any]
    unreadable: list[Unreadable]


def salvage(body: bytes) -> Salvaged:
    """The envelope's status code, the readable elements of `data`, and the unreadable ones.
    Raises UnscannableError when the envelope itself cannot be delimited."""
    try:
        return _salvage(body)
    except IndexError as exc:  # the body ended where a value was expected
        raise UnscannableError("the body ends early") from exc


def _salvage(body: bytes) -> Salvaged:
    scanner = _Scanner(body)
    members = scanner.object_members(scanner.skip_ws(0))
    status_code = None
    data: list[Any] = []
    unreadable: list[Unreadable] = []
    for name, start, end in members:
        if name == b'"status_code"':
            status_code = _value(body[start:end])
        elif name == b'"data"':
            data, unreadable = [], []  # a repeated member: the last one counts, as in decoding
            if body[start : start + 1] != b"[":
                data_value = _value(body[start:end])
                if data_value is not None:
                    raise UnscannableError("`data` is not a list")
                continue
            for first, last in scanner.array_elements(start):
                element = body[first:last]
                try:
                    data.append(_decode(element))
                except (msgspec.DecodeError, RecursionError) as exc:
                    unreadable.append(Unreadable(_key_of(scanner, first, last), _reason(exc)))
    return Salvaged(status_code, data, unreadable)


def _value(text: bytes) -> Any:
    try:
        return _decode(text)
    except (msgspec.DecodeError, RecursionError):
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "a value is nested too deeply"
    text = str(exc)
    if "UTF-8" in text:
        return "a text value is not valid UTF-8"
    if "truncated" in text or "surrogate" in text:
        return "a text value holds an invalid escape"
    return "a value is not valid JSON"


def _key_of(scanner: _Scanner, first: int, last: int) -> dict[str, Any]:
    body = scanner.body
    digest = hashlib.blake2b(body[first:last], digest_size=16).hexdigest()
    key: dict[str, Any] = {"\x00element": digest}
    if body[first : first + 1] != b"{":
        return key
    try:
        members = scanner.object_members(first)
    except UnscannableError:
        return key
    for name, start, end in members:
        if end - start > _MAX_KEY_BYTES:
            continue
        field = _value(name)
        if field in KEY_FIELDS and field not in key:
            value = _value(body[start:end])
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                key[field] = value
    return key


class _Scanner:
    """Delimits JSON values in bytes without decoding them."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def skip_ws(self, i: int) -> int:
        m = _NON_WS.search(self.body, i)
        return len(self.body) if m is None else m.start()

    def expect(self, i: int, char: bytes) -> int:
        i = self.skip_ws(i)
        if self.body[i : i + 1] != char:
            raise UnscannableError(f"expected {char.decode()} at byte {i}")
        return i + 1

    def string_end(self, i: int) -> int:
        """The index after the string that opens at i (backslash escapes respected)."""
        body = self.body
        j = i + 1
        while True:
            q = body.find(b'"', j)
            if q < 0:
                raise UnscannableError("an unterminated string")
            k = q - 1
            while body[k] == 0x5C:  # backslashes before the quote: escaped when odd
                k -= 1
            if (q - 1 - k) % 2 == 0:
                return q + 1
            j = q + 1

    def value_end(self, i: int) -> int:
        """The index after the value that starts at i (no whitespace before it)."""
        body = self.body
        c = body[i : i + 1]
        if c == b'"':
            return self.string_end(i)
        if c in (b"[", b"{"):
            depth, pos = 0, i
            while True:
                m = _SPECIAL.search(body, pos)
                if m is None:
                    raise UnscannableError("an unclosed array or object")
                at = m.start()
                ch = body[at]
                if ch == 0x22:  # a string: skipped whole
                    pos = self.string_end(at)
                    continue
                pos = at + 1
                depth += 1 if ch in (0x5B, 0x7B) else -1
                if depth == 0:
                    return pos
        m = _SCALAR_END.search(body, i)
        end = len(body) if m is None else m.start()
        if end == i:
            raise UnscannableError(f"a missing value at byte {i}")
        return end

    def object_members(self, i: int) -> list[tuple[bytes, int, int]]:
        """(quoted name, value start, value end) of the object at i."""
        i = self.expect(i, b"{")
        members: list[tuple[bytes, int, int]] = []
        i = self.skip_ws(i)
        if self.body[i : i + 1] == b"}":
            return members
        while True:
            i = self.skip_ws(i)
            if self.body[i : i + 1] != b'"':
                raise UnscannableError(f"expected a name at byte {i}")
            name_end = self.string_end(i)
            name = self.body[i:name_end]
            start = self.skip_ws(self.expect(name_end, b":"))
            end = self.value_end(start)
            members.append((name, start, end))
            i = self.skip_ws(end)
            c = self.body[i : i + 1]
            if c == b"}":
                return members
            if c != b",":
                raise UnscannableError(f"expected , or }} at byte {i}")
            i += 1

    def array_elements(self, i: int) -> list[tuple[int, int]]:
        """(start, end) of every element of the array at i."""
        i = self.expect(i, b"[")
        elements: list[tuple[int, int]] = []
        i = self.skip_ws(i)
        if self.body[i : i + 1] == b"]":
            return elements
        while True:
            start = self.skip_ws(i)
            end = self.value_end(start)
            elements.append((start, end))
            i = self.skip_ws(end)
            c = self.body[i : i + 1]
            if c == b"]":
                return elements
            if c != b",":
                raise UnscannableError(f"expected , or ] at byte {i}")
            i += 1
