"""Deterministic pseudo-random numbers keyed by (seed, purpose, index).

One generator is seeded per record, a million times, so seeding must be cheap
(`random.Random` takes ~14 us here) and the output must not depend on the Python version.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_EIGHT_WORDS = struct.Struct("<8Q")
_TWO64 = float(1 << 64)
_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I/O: they read like 1/0 on a card
_ALNUM = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def mix(x: int) -> int:
    """SplitMix64 finaliser: a well-spread 64-bit hash of `x`."""
    x = (x + _GOLDEN) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def key(*parts: int) -> int:
    """One 64-bit hash of several integers (order matters)."""
    h = 0x2545F4914F6CDD1D
    for p in parts:
        h = mix(h ^ (p & MASK))
    return h


class Rng:
    """A private random stream per record: ``Rng(seed, salt, i)``.

    BLAKE2b of the key and a block counter yields eight 64-bit draws per hash call, about
    four times cheaper per draw than SplitMix in Python integers (measured).
    """

    __slots__ = ("_block", "_key", "_pos", "_vals")

    def __init__(self, *parts: int) -> None:
        self._key = b"".join((p & MASK).to_bytes(8, "little") for p in parts)
        self._block = 0
        self._refill()

    def _refill(self) -> None:
        digest = hashlib.blake2b(
            self._key + self._block.to_bytes(4, "little"), digest_size=64
        ).digest()
        self._vals = _EIGHT_WORDS.unpack(digest)
        self._block += 1
        self._pos = 0

    def next(self) -> int:
        if self._pos == 8:
            self._refill()
        v = self._vals[self._pos]
        self._pos += 1
        return v

    def below(self, n: int) -> int:
        return self.next() % n

    def between(self, lo: int, hi: int) -> int:
        """Integer in [lo, hi] inclusive."""
        return lo + self.next() % (hi - lo + 1)

    def chance(self, p: float) -> bool:
        return self.next() < p * _TWO64

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * (self.next() >> 11) * (1.0 / (1 << 53))

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.next() % len(seq)]

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        """k distinct items in their original order."""
        picked = sorted({self.next() % len(seq) for _ in range(k * 2)})[:k]
        return [seq[i] for i in picked]

    def _chars(self, alphabet: str, n: int) -> str:
        """n characters of `alphabet`, peeling several digits off each 64-bit draw."""
        base = len(alphabet)
        per_draw = 64 * 2 // (base.bit_length() * 2 + 1)  # keeps the modulo bias small
        out: list[str] = []
        while len(out) < n:
            x = self.next()
            for _ in range(min(per_draw, n - len(out))):
                x, d = divmod(x, base)
                out.append(alphabet[d])
        return "".join(out)

    def upper(self, n: int) -> str:
        return self._chars(_UPPER, n)

    def alnum(self, n: int) -> str:
        return self._chars(_ALNUM, n)

    def bytes64(self) -> bytes:
        """64 random bytes (signatures, keys)."""
        return b"".join(self.next().to_bytes(8, "little") for _ in range(8))

    def hex(self, n: int) -> str:
        return "".join(f"{self.next():016X}" for _ in range((n + 15) // 16))[:n]

    def digits(self, n: int) -> str:
        return "".join(f"{self.next() % 10**18:018d}" for _ in range((n + 17) // 18))[:n]
