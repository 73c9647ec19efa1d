"""Serving order and last_updated of one module's records, and date windows over them.

The order is: the *base* records (indices 0..n-1, whose last_updated comes from a
non-decreasing function of the index) minus the ones that changed since, followed by the
*tail*: records created or updated after start, in the order they changed. Both parts are
sorted by last_updated, so a ``[date_from, date_to)`` window is one index range in each,
found by binary search; nothing is materialised per record.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from typing import NamedTuple

Formatter = Callable[[int], str]

_DT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"([Zz]|[+-]\d{2}:?\d{2})?$"
)


def fmt_z(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def fmt_no_z(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


def fmt_offset(t: int) -> str:
    """The same instant in +01:00 local time (so a correct parser gets it right)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+01:00", time.gmtime(t + 3600))


FORMATTERS: dict[str, Formatter] = {"z": fmt_z, "no_z": fmt_no_z, "offset": fmt_offset}


def parse_datetime(text: str) -> float:
    """OCPI DateTime -> epoch seconds. Lenient: no zone means UTC, offsets are honoured,
    and a '+' that a query string turned into a space is put back."""
    m = _DT.match(text.strip())
    if m is None and " " in text:
        m = _DT.match(text.strip().replace(" ", "+"))
    if m is None:
        raise ValueError(f"not an OCPI DateTime: {text!r}")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    t = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + float(m.group(7) or 0)
    zone = m.group(8)
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        t += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t


def ceil_seconds(t: float | None) -> int | None:
    """last_updated values are whole seconds, so t <= lu  <=>  ceil(t) <= lu."""
    return None if t is None else math.ceil(t)


class Window(NamedTuple):
    lo: int  # base index range [lo, hi)
    hi: int
    h_lo: int  # range of self.holes inside [lo, hi)
    h_hi: int
    t_lo: int  # tail position range [t_lo, t_hi)
    t_hi: int

    @property
    def base_count(self) -> int:
        return (self.hi - self.lo) - (self.h_hi - self.h_lo)

    @property
    def total(self) -> int:
        return self.base_count + (self.t_hi - self.t_lo)


class Timeline:
    """Order and last_updated of one module (not thread-safe; the Store locks)."""

    def __init__(self, base_size: int, base_lu: Callable[[int], int]) -> None:
        self.base_size = base_size
        self._base_lu = base_lu
        self.holes: list[int] = []  # sorted base indices that moved to the tail
        self.tail: list[int] = []  # indices in serving order after the base
        self.tail_lu: list[int] = []  # their last_updated, non-decreasing
        self._in_tail: dict[int, int] = {}  # index -> last_updated, for tail members

    @property
    def total(self) -> int:
        return self.base_size - len(self.holes) + len(self.tail)

    def lu(self, i: int) -> int:
        t = self._in_tail.get(i)
        return self._base_lu(i) if t is None else t

    def base_lu(self, i: int) -> int:
        return self._base_lu(i)

    def _first_base_at_or_after(self, t: int) -> int:
        lo, hi = 0, self.base_size
        while lo < hi:
            mid = (lo + hi) // 2
            if self._base_lu(mid) < t:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def window(self, date_from: int | None, date_to: int | None) -> Window:
        """Records with date_from <= last_updated < date_to (whole seconds)."""
        lo = 0 if date_from is None else self._first_base_at_or_after(date_from)
        hi = self.base_size if date_to is None else self._first_base_at_or_after(date_to)
        hi = max(lo, hi)
        t_lo = 0 if date_from is None else bisect_left(self.tail_lu, date_from)
        t_hi = len(self.tail) if date_to is None else bisect_left(self.tail_lu, date_to)
        return Window(
            lo, hi, bisect_left(self.holes, lo), bisect_left(self.holes, hi), t_lo, max(t_lo, t_hi)
        )

    def _nth_base(self, w: Window, p: int) -> int:
        """The p-th (0-based) base index in [w.lo, w.hi) that is not a hole: the smallest
        x with x = lo + p + holes_in[lo, x], found by fixed-point iteration."""
        x, k = w.lo + p, 0
        while True:
            k2 = bisect_right(self.holes, x, w.h_lo, w.h_hi) - w.h_lo
            if k2 == k:
                return x
            k, x = k2, w.lo + p + k2

    def select(self, w: Window, offset: int, count: int) -> list[int]:
        """Indices at positions [offset, offset + count) of the window."""
        out: list[int] = []
        base_n = w.base_count
        if offset < base_n and count > 0:
            x = self._nth_base(w, offset)
            hp = bisect_left(self.holes, x, w.h_lo, w.h_hi)
            while len(out) < count and x < w.hi:
                stop = self.holes[hp] if hp < w.h_hi else w.hi
                take = min(stop - x, count - len(out))
                out.extend(range(x, x + take))
                x = stop + 1
                hp += 1
        start = w.t_lo + max(0, offset - base_n)
        need = count - len(out)
        if need > 0 and start < w.t_hi:
            out.extend(self.tail[start : min(w.t_hi, start + need)])
        return out

    def touch(self, i: int, t: int) -> int:
        """Move record i to the end of the order with last_updated t (never earlier than
        the tail's last entry, so the tail stays sorted). Returns the stamp used."""
        if i in self._in_tail:
            pos = self.tail.index(i)
            del self.tail[pos]
            del self.tail_lu[pos]
        elif i < self.base_size:
            insort(self.holes, i)
        if self.tail_lu:
            t = max(t, self.tail_lu[-1])
        self.tail.append(i)
        self.tail_lu.append(t)
        self._in_tail[i] = t
        return t
