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
from tap_ocpi.mock_platform.config import MODULE_NAMES, V211, V221, V230, PlatformConfig
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

MODULES: tuple[str, ...] = MODULE_NAMES
MODULES_BY_VERSION: dict[str, tuple[str, ...]] = {
    V211: MODULES[:5],
    V221: MODULES,
    V230: MODULES,
}
_ADVANCE, _EVSE_CHANGE, _UNSTABLE = 0xAD, 0xEC, 0x05
_ENTRY_OVERHEAD = 100  # bytes a cached entry costs beyond its payload (dict slot, header)
BLOCK = 64  # records per compressed block

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class Block(NamedTuple):
    """BLOCK consecutive base records, comma-joined, raw or zlib-compressed (`packed`)."""

    data: bytes
    ends: array[int]  # end offset of each record in the (unpacked) text
    packed: bool

    @property
    def cost(self) -> int:
        return len(self.data) + 4 * len(self.ends) + _ENTRY_OVERHEAD


class RecordCache:
    """Serialized records per (module, version) within a byte budget.

    Base records are cached in blocks of 64 consecutive indices: a million ~1 KB bytes
    objects would fragment the heap (measured: ~450 bytes lost per record), 64 KB blocks do
    not. Blocks are stored raw until 90 % of the budget is used (a hit costs ~1 us per
    record), then zlib-compressed (~6x smaller, ~5 us per record to unpack), so a million
    sessions fit in under 1 GB. Records created after start are cached one by one.
    Nothing is evicted: under LRU a crawl bigger than the cache would evict every entry
    before its reuse, while a fixed set keeps serving its share from memory.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.raw_budget = budget_bytes * 9 // 10
        self.raw_used = self.packed_used = 0
        self.blocks: dict[tuple[str, str], dict[int, Block]] = {}
        self.singles: dict[tuple[str, str], dict[int, bytes]] = {}

    @property
    def used(self) -> int:
        return self.raw_used + self.packed_used

    def block_map(self, module: str, version: str) -> dict[int, Block]:
        return self.blocks.setdefault((module, version), {})

    def single_map(self, module: str, version: str) -> dict[int, bytes]:
        return self.singles.setdefault((module, version), {})

    def pack_blocks(self) -> bool:
        """New blocks are compressed once the raw share of the budget is used."""
        return self.raw_used >= self.raw_budget

    def put_block(self, m: dict[int, Block], b: int, block: Block) -> None:
        if self.used + block.cost <= self.budget:
            m[b] = block
            self._account(block.packed, block.cost)

    def put_single(self, m: dict[int, bytes], i: int, data: bytes) -> None:
        cost = len(data) + _ENTRY_OVERHEAD
        if self.used + cost <= self.budget:
            m[i] = data
            self.raw_used += cost

    def _account(self, packed: bool, cost: int) -> None:
        if packed:
            self.packed_used += cost
        else:
            self.raw_used += cost

    def drop(self, module: str, i: int) -> None:
        for (mod, _), m in self.singles.items():
            data = m.pop(i, None) if mod == module else None
            if data is not None:
                self.raw_used -= len(data) + _ENTRY_OVERHEAD
        for (mod, _), bm in self.blocks.items():
            block = bm.pop(i // BLOCK, None) if mod == module else None
            if block is not None:
                self._account(block.packed, -block.cost)

    def clear(self) -> None:
        self.blocks.clear()
        self.singles.clear()
        self.raw_used = self.packed_used = 0


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
            status = next(
                s for n in range(len(cycle)) if (s := cycle[(start + n) % len(cycle)]) != current
            )
            state[e] = (status, t)
        return state

    def obj(self, module: str, version: str, i: int) -> dict[str, Any]:
        w, fmt = self.world, self.fmt
        lu = self.timelines[module].lu(i)
        if module == "sessions":
            return render.session(w, self.session_facts(i), version, lu, fmt)
        if module == "cdrs":
            slot = self.cdr_slot(i)
            return render.cdr(
                w, self.session_facts(slot.session), kind=slot.kind, version=version, lu=lu, fmt=fmt
            )
        if module == "locations":
            return render.location(
                w.location(i),
                version,
                lu=lu,
                lu0=w.location_lu(i),
                fmt=fmt,
                evse_state=self.evse_state(i),
            )
        if module == "tariffs":
            return render.tariff(w.tariff(i), version, lu, fmt)
        if module == "tokens":
            return render.token(w.token(i), version, lu, fmt)
        return render.client(w.client(i), lu, fmt)

    def chunks(self, module: str, version: str, indices: list[int]) -> list[bytes]:
        """The records at `indices` serialized, as comma-joinable chunks: each run of
        consecutive indices inside one cached block is a single slice."""
        base_size = self.timelines[module].base_size
        singles = self.cache.single_map(module, version)
        texts: dict[int, tuple[bytes, array[int]]] = {}  # blocks unpacked for this call
        out: list[bytes] = []
        pos, n = 0, len(indices)
        while pos < n:
            i = indices[pos]
            if i >= base_size:  # created after start: no block
                data = singles.get(i)
                if data is None:
                    data = _encode(self.obj(module, version, i))
                    self.cache.put_single(singles, i, data)
                out.append(data)
                pos += 1
                continue
            b = i // BLOCK
            if b not in texts:
                texts[b] = self._block_text(module, version, b)
            pos = _slice_run(indices, pos, texts[b], out)
        return out

    def _block_text(self, module: str, version: str, b: int) -> tuple[bytes, array[int]]:
        """Block b's text and record ends, from the cache or rendered (and cached if the
        budget allows)."""
        blocks = self.cache.block_map(module, version)
        block = blocks.get(b)
        if block is not None:
            data = zlib.decompress(block.data, -15) if block.packed else block.data
            return data, block.ends
        lo = b * BLOCK
        hi = min(lo + BLOCK, self.timelines[module].base_size)
        records = [_encode(self.obj(module, version, i)) for i in range(lo, hi)]
        ends, end = array("I"), -1
        for r in records:
            end += len(r) + 1
            ends.append(end)
        text = b",".join(records)
        if self.cache.pack_blocks():
            packer = zlib.compressobj(1, zlib.DEFLATED, -15)  # raw deflate: no checksum
            block = Block(packer.compress(text) + packer.flush(), ends, True)
        else:
            block = Block(text, ends, False)
        self.cache.put_block(blocks, b, block)
        return text, ends

    # ---- queries -----------------------------------------------------------------------

    def page(
        self,
        module: str,
        version: str,
        *,
        date_from: float | None,
        date_to: float | None,
        offset: int,
        count: int,
    ) -> tuple[int, int, list[bytes]]:
        """(X-Total-Count, number of records served, the records at [offset, offset +
        count) of a window serialized as comma-joinable chunks)."""
        with self.lock:
            tl = self.timelines[module]
            w = tl.window(ceil_seconds(date_from), ceil_seconds(date_to))
            indices = tl.select(w, offset, count)
            return w.total, len(indices), self.chunks(module, version, indices)

    def expected(
        self,
        module: str,
        version: str,
        date_from: float | None = None,
        date_to: float | None = None,
    ) -> list[dict[str, Any]]:
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
        for name, list_key, id_key in (("evse", "evses", "uid"), ("connector", "connectors", "id")):
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
                "modules": {
                    m: {"total": tl.total, "generated": tl.base_size, "changed": len(tl.tail)}
                    for m, tl in self.timelines.items()
                },
                "active_sessions": len(self.active),
                "advances": self.advances,
                "unstable_moves": self.moves,
                "cache_bytes": {"raw": self.cache.raw_used, "compressed": self.cache.packed_used},
                "prewarm": {"state": self.prewarm_state, "records": self.prewarmed},
            }

    def prewarm(self, targets: tuple[str, ...], stop: threading.Event) -> None:
        """Render the records of each "version" or "version:module" target into the cache,
        a page at a time so that requests get the lock in between."""
        self.prewarm_state = "running"
        for target in targets:
            version, _, only = target.partition(":")
            for module in MODULES_BY_VERSION[version]:
                if only and module != only:
                    continue
                offset = 0
                while not stop.is_set() and offset < self.timelines[module].total:
                    _, served, _ = self.page(
                        module, version, date_from=None, date_to=None, offset=offset, count=1000
                    )
                    offset += 1000
                    self.prewarmed += served
        self.prewarm_state = "stopped" if stop.is_set() else "done"

    # ---- changes -----------------------------------------------------------------------

    def touch(self, module: str, i: int, t: int) -> None:
        self.timelines[module].touch(i, t)
        self.cache.drop(module, i)

    def shift_one(
        self, module: str, date_from: float | None, date_to: float | None, served: int
    ) -> int | None:
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

    def advance(
        self,
        new_sessions: int = 0,
        updated_sessions: int = 0,
        updated_locations: int = 0,
        minutes: float = 0.0,
    ) -> dict[str, Any]:
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
            out |= {
                t.uid,
                t.contract_id,
                t.visual_number,
                t.group_id,
                t.energy_supplier,
                t.energy_contract_id,
            }
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


def _slice_run(
    indices: list[int], pos: int, text: tuple[bytes, array[int]], out: list[bytes]
) -> int:
    """Append the run of consecutive indices from `pos` that lies in one block as a single
    slice of the block's text; returns the position after the run."""
    data, ends = text
    first = indices[pos]
    b = first // BLOCK
    stop = b * BLOCK + len(ends)  # the block's end (short at the end of the base range)
    end = pos + 1
    while end < len(indices) and indices[end] == indices[end - 1] + 1 and indices[end] < stop:
        end += 1
    lo, hi = first - b * BLOCK, indices[end - 1] - b * BLOCK
    start = ends[lo - 1] + 1 if lo else 0
    out.append(data[start : ends[hi]])
    return end
