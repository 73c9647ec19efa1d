"""pagination.py: KeySet, the compact set of record keys behind the completeness check.

Link parsing and the cursor are covered in test_link_paging.py.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_ocpi.pagination import KeySet


class Hashed:
    """A key with a chosen hash: forces collisions, probing and wrap-around."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __hash__(self) -> int:
        return self.value

    def __eq__(self, other: object) -> bool:  # KeySet compares hashes only
        return isinstance(other, Hashed) and other.value == self.value


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["NL", "DE"]), st.text(max_size=4)), max_size=3000))
def test_keyset_behaves_like_a_set(keys: list[tuple[str, str]]) -> None:
    seen, reference = KeySet(), set()
    for key in keys:
        assert seen.add(key) == (key not in reference)
        reference.add(key)
    assert len(seen) == len(reference)
    assert not any(seen.add(key) for key in reference)  # everything is still there


def test_keyset_grows_and_keeps_every_key() -> None:
    seen = KeySet()
    assert all(seen.add(("NL", "TNM", str(i))) for i in range(100_000))
    assert len(seen) == 100_000
    assert not any(seen.add(("NL", "TNM", str(i))) for i in range(0, 100_000, 7))
    assert seen.add(("NL", "TNM", "new"))


def test_keyset_probing_collisions_and_wrap_around() -> None:
    seen = KeySet()
    slots = 1024  # the initial table
    colliding: list[Any] = [Hashed(slots - 1 + k * slots) for k in range(200)]  # same slot
    assert all(seen.add(key) for key in colliding)  # probes past the end of the table
    assert not any(seen.add(key) for key in colliding)
    assert seen.add(Hashed(0))  # hash 0 marks empty slots: stored as 1
    assert not seen.add(Hashed(1))  # ... so 0 and 1 are the same (a 2^-64 event otherwise)
    assert seen.add(Hashed(-5))
    assert not seen.add(Hashed(-5))
    assert len(seen) == 202
