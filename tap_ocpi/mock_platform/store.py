"""The platform's data: World (what exists) + Timelines (order, last_updated) + changes made
by /admin/advance and the unstable-ordering fault, with a byte cache of serialized records.

Every public method takes the store lock, so the HTTP threads and the admin API see one
consistent state; a page is assembled under the lock (cached records make that cheap).
"""

from __future__ import annotations

import threading
import time
import zlib
from array import array
from typing import Any, NamedTuple

import msgspec

from tap_ocpi.mock_platform import render
from tap_ocpi.mock_platform.config import V211, V221, V230, PlatformConfig
from tap_ocpi.mock_platform.rng import Rng, key
from tap_ocpi.mock_platform.timeline import (
    FORMATTERS,
    Formatter,
    Timeline,
    ceil_seconds,
    fmt_z,
    parse_datetime,
)
from tap_ocpi.mock_platform.world import CdrSlot, SessionFacts, World

MODULES: tuple[str, ...] = ("locations", "sessions", "cdrs", "tariffs", "tokens",
                            "hubclientinfo")
MODULES_BY_VERSION: dict[str, tuple[str, ...]] = {
    V211: MODULES[:5], V221: MODULES, V230: MODULES,
}
_ADVANCE, _EVSE_CHANGE, _UNSTABLE = 0xAD, 0xEC, 0x05
_ENTRY_OVERHEAD = 100  # bytes a cached entry costs beyond its payload (dict slot, header)
BLOCK = 64  # records per compressed block

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class Block(NamedTuple):
    """BLOCK consecutive base records, comma-joined and zlib-compressed."""

    data: bytes
    ends: array[int]  # end offset of each record in the decompressed text


class RecordCache:
    """Serialized records per (module, version), in two tiers sharing a byte budget.

    Raw bytes first (a hit costs nothing); once half the budget is used, base records go
    into zlib-compressed blocks of 64 (~6x smaller, ~4 us per record to unpack), so a
    million sessions stay cached in well under 1 GB. Neither tier evicts: under LRU a
    crawl bigger than the cache would evict every entry before its reuse, while a fixed
    set keeps serving its share from memory.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.raw_budget = budget_bytes // 2
        self.block_budget = budget_bytes - self.raw_budget
        self.raw_used = self.block_used = 0
        self.raw_full = False
        self.raw: dict[tuple[str, str], dict[int, bytes]] = {}
        self.blocks: dict[tuple[str, str], dict[int, Block]] = {}

    @property
    def used(self) -> int:
        return self.raw_used + self.block_used

    def raw_map(self, module: str, version: str) -> dict[int, bytes]:
        return self.raw.setdefault((module, version), {})

    def block_map(self, module: str, version: str) -> dict[int, Block]:
        return self.blocks.setdefault((module, version), {})

    def put_raw(self, m: dict[int, bytes], i: int, data: bytes) -> None:
        cost = len(data) + _ENTRY_OVERHEAD
        if self.raw_used + cost <= self.raw_budget:
            m[i] = data
            self.raw_used += cost
        else:
            self.raw_full = True

    def put_block(self, m: dict[int, Block], b: int, block: Block) -> bool:
        cost = len(block.data) + 4 * len(block.ends) + _ENTRY_OVERHEAD
        if self.block_used + cost > self.block_budget:
            return False
        m[b] = block
        self.block_used += cost
        return True

    def drop(self, module: str, i: int) -> None:
        for (mod, _), m in self.raw.items():
            data = m.pop(i, None) if mod == module else None
            if data is not None:
                self.raw_used -= len(data) + _ENTRY_OVERHEAD
                self.raw_full = False
        for (mod, _), bm in self.blocks.items():
            block = bm.pop(i // BLOCK, None) if mod == module else None
            if block is not None:
                self.block_used -= len(block.data) + 4 * len(block.ends) + _ENTRY_OVERHEAD

    def clear(self) -> None:
        self.raw.clear()
        self.blocks.clear()
        self.raw_used = self.block_used = 0
        self.raw_full = False


class Store:
    """All records of all modules, for every served version."""

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.wall = config.now == "wall"
        anchor = int(time.time()) if self.wall else int(parse_datetime(config.now))
        span = max(1, round(config.span_days * 86400))
        self.world = w = World(config, anchor - span, span)
        self.clock = anchor
        self.lock = threading.RLock()
        self.timelines: dict[str, Timeline] = {
            "locations": Timeline(w.n_locations, w.location_lu),
            "sessions": Timeline(w.n_sessions, w.session_lu),
            "cdrs": Timeline(w.n_cdrs, w.cdr_lu),
            "tariffs": Timeline(w.n_tariffs, w.tariff_lu),
            "tokens": Timeline(w.n_tokens, w.token_lu),
            "hubclientinfo": Timeline(w.n_clients, w.client_lu),
        }
        self.created_at: dict[int, int] = {}  # sessions created by advance -> creation time
        self.completed_at: dict[int, int] = {}  # ACTIVE sessions finished by advance
        self.active = [i for i in range(w.n_completed, w.n_sessions) if not w.invalid(i)]
        self.cdr_extra: dict[int, CdrSlot] = {}  # CDRs created by advance
        self.loc_changes: dict[int, list[int]] = {}  # location -> times of EVSE changes
        self.cache = RecordCache(config.cache_mb * 1024 * 1024)
        self.ts_mode = "z"
        self.fmt: Formatter = fmt_z
        self.advances = 0
        self.moves = 0
        self.prewarm_state = "off"
        self.prewarmed = 0

    # ---- time --------------------------------------------------------------------------

    def now(self) -> int:
        return max(self.clock, int(time.time())) if self.wall else self.clock

    def timestamp(self) -> str:
        return self.fmt(self.now())

    def set_timestamp_mode(self, mode: str) -> None:
        with self.lock:
            if mode != self.ts_mode:
                self.ts_mode, self.fmt = mode, FORMATTERS[mode]
                self.cache.clear()

    # ---- rendering ---------------------------------------------------------------------

    def session_facts(self, i: int) -> SessionFacts:
        lu0 = self.created_at[i] if i in self.created_at else self.world.session_lu(i)
        return self.world.session(i, lu0, self.completed_at.get(i))

    def cdr_slot(self, k: int) -> CdrSlot:
        slot = self.cdr_extra.get(k)
        return slot if slot is not None else self.world.cdr_slot(k)

    def evse_state(self, i: int) -> dict[int, tuple[str, int]]:
        """(status, last_updated) of the EVSEs that /admin/advance changed: each change
        gives one EVSE the next status of a cycle that differs from its current one."""
        state: dict[int, tuple[str, int]] = {}
        evses = self.world.location(i).evses
        cycle = render.EVSE_STATUS_CYCLE
        for rev, t in enumerate(self.loc_changes.get(i, ())):
            e = key(self.world.seed, _EVSE_CHANGE, i, rev) % len(evses)
            current = state[e][0] if e in state else evses[e].status
            start = (i + rev) % len(cycle)
            status = next(s for n in range(len(cycle))
                          if (s := cycle[(start + n) % len(cycle)]) != current)
            state[e] = (status, t)
        return state

    def obj(self, module: str, version: str, i: int) -> dict[str, Any]:
        w, fmt = self.world, self.fmt
        lu = self.timelines[module].lu(i)
        if module == "sessions":
            return render.session(w, self.session_facts(i), version, lu, fmt)
        if module == "cdrs":
            slot = self.cdr_slot(i)
            return render.cdr(w, self.session_facts(slot.session), kind=slot.kind,
                              version=version, lu=lu, fmt=fmt)
        if module == "locations":
            return render.location(w.location(i), version, lu=lu, lu0=w.location_lu(i),
                                   fmt=fmt, evse_state=self.evse_state(i))
        if module == "tariffs":
            return render.tariff(w.tariff(i), version, lu, fmt)
        if module == "tokens":
            return render.token(w.token(i), version, lu, fmt)
        return render.client(w.client(i), lu, fmt)

    def chunks(self, module: str, version: str, indices: list[int]) -> list[bytes]:
        """The records at `indices` serialized, as comma-joinable chunks (one record, or a
        run of consecutive records sliced out of a compressed block)."""
        cache = self.cache
        raw = cache.raw_map(module, version)
        blocks = cache.block_map(module, version)
        base_size = self.timelines[module].base_size
        unpacked: dict[int, tuple[bytes, array[int]]] = {}
        out: list[bytes] = []
        pos, n = 0, len(indices)
        while pos < n:
            i = indices[pos]
            data = raw.get(i)
            if data is not None:
                out.append(data)
                pos += 1
                continue
            b = i // BLOCK
            if i < base_size and (b in blocks or cache.raw_full):
                text = self._unpack(module, version, b, unpacked)
                if text is not None:
                    pos = self._slice_run(indices, pos, text, out)
                    continue
            data = _encode(self.obj(module, version, i))
            cache.put_raw(raw, i, data)
            out.append(data)
            pos += 1
        return out

    def _unpack(self, module: str, version: str, b: int,
                unpacked: dict[int, tuple[bytes, array[int]]]) -> tuple[bytes, array[int]] | None:
        """Block b decompressed (built and stored first if the budget allows)."""
        if b in unpacked:
            return unpacked[b]
        blocks = self.cache.block_map(module, version)
        block = blocks.get(b)
        if block is None:
            lo = b * BLOCK
            hi = min(lo + BLOCK, self.timelines[module].base_size)
            records = [_encode(self.obj(module, version, i)) for i in range(lo, hi)]
            ends, end = array("I"), -1
            for r in records:
                end += len(r) + 1
                ends.append(end)
            text = b",".join(records)
            block = Block(zlib.compress(text, 1), ends)
            if not self.cache.put_block(blocks, b, block):
                return None
            unpacked[b] = (text, ends)
        else:
            unpacked[b] = (zlib.decompress(block.data), block.ends)
        return unpacked[b]

    @staticmethod
    def _slice_run(indices: list[int], pos: int, text: tuple[bytes, array[int]],
                   out: list[bytes]) -> int:
        """Append the run of consecutive indices from `pos` that lies in one block as a
        single slice; returns the position after the run."""
        first = indices[pos]
        b = first // BLOCK
        end = pos + 1
        while end < len(indices) and indices[end] == indices[end - 1] + 1 \
                and indices[end] // BLOCK == b:
            end += 1
        data, ends = text
        lo, hi = first - b * BLOCK, indices[end - 1] - b * BLOCK
        start = ends[lo - 1] + 1 if lo else 0
        out.append(data[start:ends[hi]])
        return end

    # ---- queries -----------------------------------------------------------------------

    def page(self, module: str, version: str, *, date_from: float | None,
             date_to: float | None, offset: int, count: int) -> tuple[int, list[bytes]]:
        """(X-Total-Count, serialized records at [offset, offset + count) of a window, as
        comma-joinable chunks)."""
        with self.lock:
            tl = self.timelines[module]
            w = tl.window(ceil_seconds(date_from), ceil_seconds(date_to))
            return w.total, self.chunks(module, version, tl.select(w, offset, count))

    def expected(self, module: str, version: str, date_from: float | None = None,
                 date_to: float | None = None) -> list[dict[str, Any]]:
        with self.lock:
            tl = self.timelines[module]
            w = tl.window(ceil_seconds(date_from), ceil_seconds(date_to))
            chunks = self.chunks(module, version, tl.select(w, 0, w.total))
        return list(_decode(b"[" + b",".join(chunks) + b"]"))

    def location_object(self, version: str, parts: list[str]) -> dict[str, Any] | None:
        """Location / EVSE / Connector for `{location_id}[/{evse_uid}[/{connector_id}]]`."""
        with self.lock:
            i = self._location_index(parts[0])
            if i is None:
                return None
            obj: dict[str, Any] = self.obj("locations", version, i)
        for name, list_key, id_key in (("evse", "evses", "uid"),
                                       ("connector", "connectors", "id")):
            depth = 1 if name == "evse" else 2
            if len(parts) <= depth:
                break
            found = [o for o in obj[list_key] if o[id_key] == parts[depth]]
            if not found:
                return None
            obj = found[0]
        return obj

    def _location_index(self, loc_id: str) -> int | None:
        digits = loc_id[3:]
        if not (loc_id.startswith("LOC") and len(digits) == 6 and digits.isdigit()):
            return None
        i = int(digits)
        return i if i < self.world.n_locations else None

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "clock": fmt_z(self.now()),
                "modules": {m: {"total": tl.total, "generated": tl.base_size,
                                "changed": len(tl.tail)}
                            for m, tl in self.timelines.items()},
                "active_sessions": len(self.active),
                "advances": self.advances,
                "unstable_moves": self.moves,
                "cache_bytes": {"raw": self.cache.raw_used, "compressed": self.cache.block_used},
                "prewarm": {"state": self.prewarm_state, "records": self.prewarmed},
            }

    def prewarm(self, versions: tuple[str, ...], stop: threading.Event) -> None:
        """Render every record of `versions` into the cache, a page at a time so that
        requests get the lock in between; stops early when the cache is full."""
        self.prewarm_state = "running"
        for version in versions:
            for module in MODULES_BY_VERSION[version]:
                offset = 0
                while not stop.is_set() and offset < self.timelines[module].total:
                    self.page(module, version, date_from=None, date_to=None, offset=offset,
                              count=1000)
                    offset += 1000
                    self.prewarmed += 1000
        self.prewarm_state = "stopped" if stop.is_set() else "done"

    # ---- changes -----------------------------------------------------------------------

    def touch(self, module: str, i: int, t: int) -> None:
        self.timelines[module].touch(i, t)
        self.cache.drop(module, i)

    def shift_one(self, module: str, date_from: float | None, date_to: float | None,
                  served: int) -> int | None:
        """The unstable-ordering fault: move one of the first `served` records of the
        window to the end of the order, stamped with the current time."""
        with self.lock:
            tl = self.timelines[module]
            w = tl.window(ceil_seconds(date_from), ceil_seconds(date_to))
            served = min(served, w.total)
            if served <= 0:
                return None
            self.moves += 1
            pos = Rng(self.world.seed, _UNSTABLE, self.moves).below(served)
            i = tl.select(w, pos, 1)[0]
            self.touch(module, i, self.now())
            return i

    def advance(self, new_sessions: int = 0, updated_sessions: int = 0,
                updated_locations: int = 0, minutes: float = 0.0) -> dict[str, Any]:
        """Move the clock by `minutes` and make changes stamped within the last `minutes`
        before the new clock (in wall mode the new clock is at least the current time)."""
        if min(new_sessions, updated_sessions, updated_locations, minutes) < 0:
            raise ValueError("advance: counts and minutes must not be negative")
        with self.lock:
            self.advances += 1
            # On the wall clock, changes happen now: never before a tap run that already ran.
            old = max(self.clock, int(time.time())) if self.wall else self.clock
            new = old + round(minutes * 60)
            if self.wall:
                new = max(new, int(time.time()))
            lo = max(old, new - round(minutes * 60))
            n = new_sessions + updated_sessions + updated_locations
            stamps = iter([lo + (j + 1) * (new - lo) // n for j in range(n)])
            result: dict[str, Any] = {
                "updated_locations": self._update_locations(updated_locations, stamps),
            }
            updated, cdrs = self._update_sessions(updated_sessions, stamps)
            result["updated_sessions"] = updated
            result["created_cdrs"] = cdrs
            result["created_sessions"] = self._create_sessions(new_sessions, stamps)
            self.clock = new
            counts = {k: len(v) for k, v in result.items()}
            return {"clock": fmt_z(new), "counts": counts, **result}

    def _rng(self, purpose: int) -> Rng:
        return Rng(self.world.seed, _ADVANCE, self.advances, purpose)

    def _update_locations(self, n: int, stamps: Any) -> list[str]:
        r = self._rng(1)
        total = self.world.n_locations
        picked = list(dict.fromkeys(r.below(total) for _ in range(n * 3)))[:n]
        while len(picked) < n:  # fewer distinct locations than asked: repeat some
            picked.append(r.below(total))
        out = []
        for i in picked:
            t = next(stamps)
            self.loc_changes.setdefault(i, []).append(t)
            self.touch("locations", i, t)
            out.append(self.world.location(i).id)
        return out

    def _update_sessions(self, n: int, stamps: Any) -> tuple[list[str], list[str]]:
        """Finish ACTIVE sessions first (each gets its CDR), then re-stamp finished ones."""
        r = self._rng(2)
        sessions, cdrs = [], []
        for _ in range(n):
            t = next(stamps)
            if self.active:
                i = self.active.pop(0)
                self.completed_at[i] = t
                k = self.world.n_cdrs + len(self.cdr_extra)
                self.cdr_extra[k] = CdrSlot(i, "normal", i)
                self.touch("cdrs", k, t)
                cdrs.append(render.cdr_id(i, "normal"))
            else:
                i = r.below(max(1, self.world.n_completed))
                if i >= self.world.n_sessions:
                    continue
            self.touch("sessions", i, t)
            sessions.append(self.world.session_id(i))
        return sessions, cdrs

    def _create_sessions(self, n: int, stamps: Any) -> list[str]:
        out = []
        for _ in range(n):
            i = self.world.n_sessions + len(self.created_at)
            t = next(stamps)
            self.created_at[i] = t
            self.active.append(i)
            self.touch("sessions", i, t)
            out.append(self.world.session_id(i))
        return out

    # ---- personal data -----------------------------------------------------------------

    def personal_values(self) -> set[str]:
        """Every personal string in the dataset (see the docstring of MockPlatform)."""
        w = self.world
        out: set[str | None] = set()
        for k in range(w.n_tokens):
            t = w.token(k)
            out |= {t.uid, t.contract_id, t.visual_number, t.group_id, t.energy_supplier,
                    t.energy_contract_id}
        for i in range(w.n_locations):
            loc = w.location(i)
            out |= {e.meter_id for e in loc.evses}
            if loc.private:
                out |= {loc.name, loc.address, loc.latitude, loc.longitude, loc.owner}
        with self.lock:
            indices = list(range(w.n_sessions)) + list(self.created_at)
            facts = [self.session_facts(i) for i in indices]
        for s in facts:
            out |= {s.authorization_reference, s.invoice, render.remark(s, "normal")}
            if s.signed and s.status == "COMPLETED":
                sd = render.signed_data(w, s)
                out.add(sd["public_key"])
                for v in sd["signed_values"]:
                    out |= {v["plain_data"], v["signed_data"]}
        out.discard(None)
        return {v for v in out if v}

