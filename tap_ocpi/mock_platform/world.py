"""The generated world: version-neutral facts about every record, a pure function of the seed.

Nothing here is stored per record except small memo tables for the few thousand locations,
tariffs and tokens; a session or CDR is rebuilt from (seed, index) whenever it is needed,
which is what lets the platform hold a million sessions without a million objects.

Sessions are numbered in creation order; ``World.session_lu(i)`` (last_updated) is
non-decreasing in ``i``, so a date window is a range of indices. CDRs hang off completed
sessions through closed-form slot arithmetic (see ``cdr_slots``), again without tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from tap_ocpi.mock_platform import vocab
from tap_ocpi.mock_platform.config import CPO_PARTY, EMSP_PARTY, PlatformConfig
from tap_ocpi.mock_platform.rng import Rng, key, mix

# Salts keep the per-purpose random streams independent.
_LOC, _EVSE, _TAR, _TOK, _GRP, _CLI, _SES, _LU, _REV, _PATTERN = range(101, 111)

INVALID_PERIOD = 50  # one base session in 50 is INVALID (no CDR)
CREDIT_PERIOD = 60  # one completed session in 60 gets a credit CDR + a corrected CDR later


@dataclass(frozen=True, slots=True)
class ConnectorFacts:
    id: str
    standard: str
    format: str
    power_type: str
    voltage: int
    amperage: int
    power_w: int
    tariff: int
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvseFacts:
    uid: str
    evse_id: str
    status: str
    capabilities: tuple[str, ...]
    connectors: tuple[ConnectorFacts, ...]
    floor_level: str | None
    physical_reference: str | None
    parking_ids: tuple[str, ...]
    meter_id: str | None
    age_s: int  # how long before the location's last_updated this EVSE last changed


@dataclass(frozen=True, slots=True)
class LocationFacts:
    index: int
    id: str
    kind: str  # public | home | restricted
    name: str | None
    address: str
    city: str
    postal_code: str
    state: str | None
    country: str
    latitude: str
    longitude: str
    parking_type: str
    evses: tuple[EvseFacts, ...]
    facilities: tuple[str, ...]
    time_zone: str
    regular_hours: tuple[tuple[int, str, str], ...]  # empty = open 24/7
    owner: str | None  # a person's name for home chargers
    owner_token: int | None
    allowed: tuple[tuple[tuple[str, str], ...], ...]  # publish_allowed_to entries
    green: bool
    supplier: tuple[str, str]
    help_phone: str
    directions: str | None

    @property
    def private(self) -> bool:
        return self.kind != "public"


@dataclass(frozen=True, slots=True)
class TariffFacts:
    index: int
    id: str
    dc: bool
    energy: float  # EUR/kWh excl. VAT
    time: float | None  # EUR/h while charging
    parking: float | None  # EUR/h while parked
    flat: float | None  # start fee
    vat: float
    type: str
    min_price: float | None
    start: int | None
    green: bool


@dataclass(frozen=True, slots=True)
class TokenFacts:
    index: int
    uid: str
    type: str  # RFID | APP_USER
    contract_id: str
    visual_number: str | None
    issuer: str
    group_id: str | None
    valid: bool
    whitelist: str
    language: str
    profile: str | None
    energy_supplier: str | None
    energy_contract_id: str | None


@dataclass(frozen=True, slots=True)
class ClientFacts:
    index: int
    country_code: str
    party_id: str
    role: str
    status: str


@dataclass(frozen=True, slots=True)
class Period:
    start: int
    kwh: float
    hours: float
    parking: bool
    power_kw: float
    soc: int | None  # state of charge at the end of the period


@dataclass(frozen=True, slots=True)
class SessionFacts:
    index: int
    id: str
    location: int
    evse: int
    connector: int
    token: int
    tariff: int
    status: str
    start: int
    end: int | None
    kwh: float
    charge_hours: float
    parking_hours: float
    periods: tuple[Period, ...]
    auth_method: str
    authorization_reference: str | None
    meter_id: str | None
    signed: bool
    remark_name: str | None  # set when the CDR carries a free-text remark about a person
    invoice: str | None
    cost_energy: float
    cost_time: float
    cost_parking: float
    cost_fixed: float

    @property
    def cost_total(self) -> float:
        return self.cost_energy + self.cost_time + self.cost_parking + self.cost_fixed


@dataclass(frozen=True, slots=True)
class CdrSlot:
    """Which session a CDR describes and how: the normal CDR, a credit, or its rebill."""

    session: int
    kind: str  # normal | credit | rebill
    filed_with: int  # the session whose processing produced it (dates the CDR)


def _uuid(r: Rng) -> str:
    h = r.hex(32).lower()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def _coord(value: float, private: bool) -> str:
    """6 decimals; the last digit's parity marks private places, so private coordinates
    can never coincide with public ones (leak tests grep for them)."""
    micro = round(value * 1_000_000)
    if (micro % 2 == 1) != private:
        micro += 1
    sign = "-" if micro < 0 else ""
    micro = abs(micro)
    return f"{sign}{micro // 1_000_000}.{micro % 1_000_000:06d}"


def _postal(r: Rng, city: vocab.City) -> str:
    if city.country == "NLD":
        return f"{city.postal_prefix}{r.digits(2)} {r.upper(2)}"
    if city.country in ("BEL", "AUT"):
        return f"{city.postal_prefix}{r.digits(2)}"
    return f"{city.postal_prefix}{r.digits(3)}"


class World:
    """Facts for every record index, derived from the config's seed and sizes."""

    def __init__(self, config: PlatformConfig, start: int, span: int) -> None:
        self.seed = config.seed
        self.n_locations = config.locations
        self.n_tariffs = config.tariffs
        self.n_tokens = config.tokens
        self.n_clients = config.clients
        self.n_sessions = config.sessions
        self.start = start
        self.span = span
        self.end = start + span
        n = self.n_sessions
        self.n_active = min(25, max(1, n // 40)) if n >= 10 else 0
        self.n_completed = n - self.n_active  # base sessions [0, n_completed) are finished
        self.credit_delay = max(1, n // 100)  # corrections arrive this many sessions later
        r = Rng(self.seed, _PATTERN)
        self.invalid_residue = r.below(INVALID_PERIOD)
        # Residues differing mod 10 = gcd(50, 60): no session is both invalid and credited.
        self.credit_residue = (self.invalid_residue + 1 + r.below(9)) % 10 + 10 * r.below(6)
        self._locations: dict[int, LocationFacts] = {}
        self._tariffs: dict[int, TariffFacts] = {}
        self._tokens: dict[int, TokenFacts] = {}
        self._lu_prefix: dict[int, int] = {}
        self._last_slot: dict[int, int] = {}  # CDR index -> session index, recent lookups

    # ---- last_updated of base records: non-decreasing in the index -------------------

    def base_lu(self, salt: int, size: int, i: int) -> int:
        """Spread `size` records over the span: floor((i*span + jitter) / size), jitter <
        span, which is non-decreasing in i and stays below the span's end."""
        prefix = self._lu_prefix.get(salt)
        if prefix is None:
            prefix = self._lu_prefix[salt] = key(self.seed, _LU, salt)
        return self.start + (i * self.span + mix(prefix ^ i) % self.span) // size

    def session_lu(self, i: int) -> int:
        return self.base_lu(_SES, self.n_sessions, i)

    def location_lu(self, i: int) -> int:
        return self.base_lu(_LOC, self.n_locations, i)

    def tariff_lu(self, j: int) -> int:
        return self.base_lu(_TAR, self.n_tariffs, j)

    def token_lu(self, k: int) -> int:
        return self.base_lu(_TOK, self.n_tokens, k)

    def client_lu(self, c: int) -> int:
        return self.base_lu(_CLI, self.n_clients, c)

    def cdr_lu(self, k: int) -> int:
        """A CDR appears five minutes after the last update of the session it was filed
        with (capped at the end), so CDR stamps never decrease with k."""
        return min(self.session_lu(self.cdr_slot(k).filed_with) + 300, self.end - 1)

    # ---- session outcome patterns (closed form, so CDR counts need no tables) --------

    def invalid(self, i: int) -> bool:
        return i < self.n_sessions and i % INVALID_PERIOD == self.invalid_residue

    def credited(self, j: int) -> bool:
        return 0 <= j < self.n_completed and j % CREDIT_PERIOD == self.credit_residue

    @staticmethod
    def _count(residue: int, period: int, upto: int) -> int:
        """How many j in [0, upto) have j % period == residue."""
        return 0 if upto <= residue else (upto - residue + period - 1) // period

    def cdr_prefix(self, i: int) -> int:
        """Number of base CDRs that belong to sessions [0, i)."""
        m = min(i, self.n_completed)
        normal = m - self._count(self.invalid_residue, INVALID_PERIOD, m)
        credited = self._count(
            self.credit_residue, CREDIT_PERIOD, min(i - self.credit_delay, self.n_completed)
        )
        return normal + 2 * credited

    @property
    def n_cdrs(self) -> int:
        return self.cdr_prefix(self.n_sessions)

    def slots_of(self, i: int) -> list[CdrSlot]:
        """CDRs filed together with session i: its own, then a late correction of an
        earlier session (credit CDR + corrected CDR)."""
        out = []
        if i < self.n_completed and not self.invalid(i):
            out.append(CdrSlot(i, "normal", i))
        j = i - self.credit_delay
        if self.credited(j):
            out += [CdrSlot(j, "credit", i), CdrSlot(j, "rebill", i)]
        return out

    def cdr_slot(self, k: int) -> CdrSlot:
        """The k-th base CDR. Pages read CDRs in order, so k-1's session is remembered and
        usually holds the answer; otherwise binary search the closed-form prefix."""
        i = self._last_slot.get(k - 1, -1)
        if i < 0 or not (self.cdr_prefix(i) <= k < self.cdr_prefix(i + 1)):
            i = (
                i + 1
                if i >= 0 and self.cdr_prefix(i + 1) <= k < self.cdr_prefix(i + 2)
                else self._session_of_cdr(k)
            )
        if len(self._last_slot) > 4096:
            self._last_slot.clear()
        self._last_slot[k] = i
        return self.slots_of(i)[k - self.cdr_prefix(i)]

    def _session_of_cdr(self, k: int) -> int:
        lo, hi = 0, self.n_sessions - 1  # the last i with cdr_prefix(i) <= k
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.cdr_prefix(mid) <= k:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # ---- small modules: memoised facts -------------------------------------------------

    def location(self, i: int) -> LocationFacts:
        facts = self._locations.get(i)
        if facts is None:
            facts = self._locations[i] = self._make_location(i)
        return facts

    def tariff(self, j: int) -> TariffFacts:
        facts = self._tariffs.get(j)
        if facts is None:
            facts = self._tariffs[j] = self._make_tariff(j)
        return facts

    def token(self, k: int) -> TokenFacts:
        facts = self._tokens.get(k)
        if facts is None:
            facts = self._tokens[k] = self._make_token(k)
        return facts

    def client(self, c: int) -> ClientFacts:
        r = Rng(self.seed, _CLI, c)
        if c < len(vocab.HUB_PARTIES):
            country, party = vocab.HUB_PARTIES[c]
        else:  # unique beyond the list: party id spells c in base 24
            letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
            country = "DE"
            party = "".join(letters[(c // 24**p) % 24] for p in (2, 1, 0))
        role = ("CPO", "EMSP", "CPO", "NSP")[c % 4]
        status = "CONNECTED"
        if r.chance(0.25):
            status = r.choice(("OFFLINE", "PLANNED", "SUSPENDED"))
        return ClientFacts(c, country, party, role, status)

    def _make_location(self, i: int) -> LocationFacts:
        r = Rng(self.seed, _LOC, i)
        roll = r.uniform(0.0, 1.0)
        kind = "home" if roll < 0.08 else "restricted" if roll < 0.13 else "public"
        private = kind != "public"
        city = r.choice(vocab.CITIES)
        lat = _coord(city.latitude + r.uniform(-0.07, 0.07), private)
        lon = _coord(city.longitude + r.uniform(-0.1, 0.1), private)
        postal = _postal(r, city)
        first, last = r.choice(vocab.FIRST_NAMES), r.choice(vocab.LAST_NAMES)
        owner_token = None
        owner = None
        allowed: tuple[tuple[tuple[str, str], ...], ...] = ()
        if kind == "public":
            street = r.choice(vocab.PUBLIC_STREETS)
            address = f"{street} {r.between(1, 180)}"
            name: str | None = f"{r.choice(vocab.PUBLIC_NAMES)} {city.name} {street}"
            parking_type = r.choice(vocab.PARKING_TYPES)
        else:
            address = f"{r.choice(vocab.PRIVATE_STREETS)} {r.between(1, 240)}{r.choice('ABCDEFGH')}"
            if kind == "home":
                owner_token = r.below(self.n_tokens)
                owner = f"{first} {last}"
                name = f"{r.choice(vocab.HOME_NAMES)} {last}"
                parking_type = "ON_DRIVEWAY"
                allowed = self._allowed_for([owner_token])
            else:
                company = r.choice(vocab.COMPANIES)
                owner = company
                name = f"Mitarbeiterparkplatz {company}"
                parking_type = r.choice(("PARKING_LOT", "UNDERGROUND_GARAGE"))
                allowed = self._allowed_for([r.below(self.n_tokens) for _ in range(3)])
        evses = self._make_evses(i, kind, r)
        facilities: tuple[str, ...] = ()
        if kind == "public":
            facilities = tuple(
                r.sample(vocab.FACILITIES_211 + vocab.FACILITIES_22, r.between(0, 3))
            )
        hours: tuple[tuple[int, str, str], ...] = ()
        if kind == "restricted" or (kind == "public" and r.chance(0.2)):
            hours = tuple((day, "07:00", "20:00") for day in range(1, 7))
        return LocationFacts(
            index=i,
            id=f"LOC{i:06d}",
            kind=kind,
            name=name,
            address=address,
            city=city.name,
            postal_code=postal,
            state=city.state,
            country=city.country,
            latitude=lat,
            longitude=lon,
            parking_type=parking_type,
            evses=evses,
            facilities=facilities,
            time_zone=city.time_zone,
            regular_hours=hours,
            owner=owner,
            owner_token=owner_token,
            allowed=allowed,
            green=r.chance(0.6),
            supplier=r.choice(vocab.SUPPLIERS),
            help_phone=f"+49 30 {r.digits(4)} {r.digits(3)}",
            directions=(
                "Einfahrt ueber den Hof, Ladepunkt links"
                if kind == "public" and r.chance(0.3)
                else None
            ),
        )

    def _allowed_for(self, tokens: list[int]) -> tuple[tuple[tuple[str, str], ...], ...]:
        """publish_allowed_to entries naming the people allowed to see a private place."""
        out: list[tuple[tuple[str, str], ...]] = []
        for k in tokens:
            t = self.token(k)
            if t.group_id:
                out.append((("group_id", t.group_id),))
            elif t.visual_number:
                out.append((("visual_number", t.visual_number), ("issuer", t.issuer)))
            else:
                out.append((("uid", t.uid), ("type", t.type)))
        return tuple(dict.fromkeys(out))

    def _make_evses(self, i: int, kind: str, r: Rng) -> tuple[EvseFacts, ...]:
        n = 1 if kind == "home" else r.between(2, 4) if kind == "restricted" else r.between(1, 6)
        dc_site = kind == "public" and r.chance(0.3)
        evses = []
        for e in range(n):
            er = Rng(self.seed, _EVSE, i, e)
            conns: tuple[ConnectorFacts, ...]
            if kind == "home":
                conns = (self._connector(er, "1", "home"),)
            elif dc_site:
                conns = (self._connector(er, "1", "ccs"), self._connector(er, "2", "chademo"))
            else:
                conns = (self._connector(er, "1", "ac"),)
            status = "AVAILABLE"
            if er.chance(0.3):
                status = er.choice(
                    (
                        "CHARGING",
                        "CHARGING",
                        "CHARGING",
                        "OUTOFORDER",
                        "INOPERATIVE",
                        "UNKNOWN",
                        "BLOCKED",
                    )
                )
            caps: tuple[str, ...] = ("RFID_READER", "REMOTE_START_STOP_CAPABLE")
            if kind == "public" and er.chance(0.4):
                caps += ("CREDIT_CARD_PAYABLE", "CONTACTLESS_CARD_SUPPORT")
            evses.append(
                EvseFacts(
                    uid=f"EVSE{i:06d}{e + 1:02d}",
                    evse_id=f"DE*VLT*E{i:06d}{e + 1:02d}",
                    status=status,
                    capabilities=caps,
                    connectors=conns,
                    floor_level="-1" if kind != "home" and er.chance(0.2) else None,
                    physical_reference=str(e + 1) if kind != "home" else None,
                    parking_ids=(str(e + 1),) if kind == "public" else (),
                    meter_id=(
                        f"1{er.choice(('ESY', 'EBZ', 'ISK', 'EMH'))}{er.digits(10)}"
                        if er.chance(0.8)
                        else None
                    ),
                    age_s=er.between(0, 30) * 86400 + er.between(0, 86399),
                )
            )
        return tuple(evses)

    def _connector(self, r: Rng, cid: str, kind: str) -> ConnectorFacts:
        if kind == "home":
            if r.chance(0.5):
                spec = ("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 230, 16, 11000)
            else:
                spec = ("IEC_62196_T2", "SOCKET", "AC_1_PHASE", 230, 32, 7400)
        elif kind == "ccs":
            spec = ("IEC_62196_T2_COMBO", "CABLE", "DC", 920, 200, r.choice((50000, 150000)))
        elif kind == "chademo":
            spec = ("CHADEMO", "CABLE", "DC", 500, 125, 50000)
        else:
            spec = ("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 230, 32, 22000)
        dc = spec[2] == "DC"
        tariff = self._tariff_for(r, dc)
        caps = ("ISO_15118_2_PLUG_AND_CHARGE",) if dc and r.chance(0.5) else ()
        return ConnectorFacts(
            cid, spec[0], spec[1], spec[2], spec[3], spec[4], spec[5], tariff, caps
        )

    def _tariff_for(self, r: Rng, dc: bool) -> int:
        """A tariff of the right kind (DC tariffs are every third index) if one exists."""
        matching = [j for j in range(min(self.n_tariffs, 60)) if (j % 3 == 2) == dc]
        return r.choice(matching) if matching else r.below(self.n_tariffs)

    def _make_tariff(self, j: int) -> TariffFacts:
        r = Rng(self.seed, _TAR, j)
        dc = j % 3 == 2
        energy = round(r.uniform(0.59, 0.79) if dc else r.uniform(0.35, 0.55), 2)
        return TariffFacts(
            index=j,
            id=f"TRF{j:04d}",
            dc=dc,
            energy=energy,
            time=round(r.uniform(0.6, 1.2), 2) if dc and r.chance(0.5) else None,
            parking=round(r.uniform(1.8, 6.0), 2) if r.chance(0.4) else None,
            flat=round(r.uniform(0.25, 1.0), 2) if r.chance(0.3) else None,
            vat=19.0,
            type="AD_HOC_PAYMENT" if j % 7 == 6 else "REGULAR",
            min_price=round(r.uniform(1.0, 2.5), 2) if r.chance(0.25) else None,
            start=self.start + r.below(max(1, self.span // 2)) if r.chance(0.3) else None,
            green=r.chance(0.5),
        )

    def _make_token(self, k: int) -> TokenFacts:
        r = Rng(self.seed, _TOK, k)
        app = r.chance(0.12)
        country = EMSP_PARTY[0]
        uid = f"app-{r.hex(20).lower()}" if app else f"{country}{r.alnum(12)}"
        contract = f"{country}-{EMSP_PARTY[1]}-C{r.alnum(8)}-{r.alnum(1)}"
        visual = None if app else f"{EMSP_PARTY[1]}-{r.digits(4)}-{r.digits(4)}-{r.digits(1)}"
        group = None
        if r.chance(0.45):  # fleets: neighbouring tokens share a group id
            group = f"GRP-{Rng(self.seed, _GRP, k // 4).alnum(10)}"
        supplier = contract_id = None
        if r.chance(0.25):
            supplier = r.choice(
                ("Hausstrom Kirchberg eG", "Gemeindewerke Oberzell", "Heimstrom Wendelstein")
            )
            contract_id = f"EV{r.digits(10)}" if r.chance(0.8) else None
        return TokenFacts(
            index=k,
            uid=uid,
            type="APP_USER" if app else "RFID",
            contract_id=contract,
            visual_number=visual,
            issuer="Voltaro eMobility",
            group_id=group,
            valid=r.chance(0.94),
            whitelist=r.choice(("ALLOWED", "ALLOWED", "ALWAYS", "ALLOWED_OFFLINE", "NEVER")),
            language=r.choice(vocab.LANGUAGES),
            profile=r.choice(("CHEAP", "FAST", "GREEN", "REGULAR")) if r.chance(0.3) else None,
            energy_supplier=supplier,
            energy_contract_id=contract_id,
        )

    # ---- sessions ----------------------------------------------------------------------

    def session_id(self, i: int) -> str:
        """The id alone (the first draw of the session's stream, as in `session`)."""
        return _uuid(Rng(self.seed, _SES, i))

    def session(self, i: int, lu0: int, completed_at: int | None) -> SessionFacts:
        """Session i. `lu0` is its original last_updated (creation time for sessions made by
        /admin/advance); `completed_at` is set once an ACTIVE session has been finished.

        All random draws happen up front in a fixed order, so a session keeps its place,
        token and meter whatever state it is in.
        """
        r = Rng(self.seed, _SES, i)
        sid = _uuid(r)
        li = r.below(self.n_locations)
        loc = self.location(li)
        token = loc.owner_token if loc.owner_token is not None else r.below(self.n_tokens)
        ei = r.below(len(loc.evses))
        evse = loc.evses[ei]
        ci = r.below(len(evse.connectors))
        conn = evse.connectors[ci]
        dc = conn.power_type == "DC"
        power = conn.power_w / 1000 * r.uniform(0.45, 0.9)
        charge_h = r.uniform(0.2, 0.9) if dc else r.uniform(0.5, 4.5)
        parking_h = r.uniform(0.05, 1.5) if r.chance(0.4) else 0.0
        elapsed = r.uniform(0.1, 0.9)
        gap = r.between(5, 240)
        soc0 = r.between(8, 60)
        battery = r.choice((40, 58, 77, 82, 100))
        method = r.choice(("WHITELIST", "WHITELIST", "AUTH_REQUEST", "AUTH_REQUEST", "COMMAND"))
        auth_ref = f"AR{r.hex(14)}" if method != "WHITELIST" else None
        signed = r.chance(0.3) and evse.meter_id is not None
        remark_name = (
            f"{r.choice(vocab.FIRST_NAMES)} {r.choice(vocab.LAST_NAMES)}"
            if r.chance(0.06)
            else None
        )
        invoice = f"INV-{r.digits(4)}-{r.alnum(6)}" if r.chance(0.5) else None

        base = i < self.n_sessions
        if base and self.invalid(i):
            status, start = "INVALID", lu0 - 300 - gap
            end: int | None = start + 120
            charge_h = parking_h = 0.0
        elif (base and i < self.n_completed) or (completed_at is not None):
            status = "COMPLETED"
            if completed_at is None:
                end = lu0 - gap
                start = end - round((charge_h + parking_h) * 3600)
            else:  # finished by /admin/advance: started while ACTIVE, ends by completed_at
                start = lu0 - max(120, round(elapsed * charge_h * 3600))
                end = max(
                    lu0, min(start + round((charge_h + parking_h) * 3600), completed_at - gap)
                )
                scale = (end - start) / 3600 / (charge_h + parking_h)
                charge_h, parking_h = charge_h * scale, parking_h * scale
        else:
            status, end = "ACTIVE", None
            start = lu0 - max(120, round(elapsed * charge_h * 3600))
            charge_h, parking_h = (lu0 - start) / 3600, 0.0
        kwh = round(min(power * charge_h, battery * (100 - soc0) / 100), 3)  # battery fills
        periods = self._periods(
            start,
            kwh,
            charge_h=charge_h,
            parking_h=parking_h,
            power=power,
            soc0=soc0,
            battery=battery,
        )
        tariff = self.tariff(conn.tariff)
        charged = status != "INVALID"
        return SessionFacts(
            index=i,
            id=sid,
            location=li,
            evse=ei,
            connector=ci,
            token=token,
            tariff=conn.tariff,
            status=status,
            start=start,
            end=end,
            kwh=kwh,
            charge_hours=charge_h,
            parking_hours=parking_h,
            periods=periods,
            auth_method=method,
            authorization_reference=auth_ref,
            meter_id=evse.meter_id,
            signed=signed,
            remark_name=remark_name,
            invoice=invoice,
            cost_energy=kwh * tariff.energy,
            cost_time=charge_h * (tariff.time or 0.0),
            cost_parking=parking_h * (tariff.parking or 0.0),
            cost_fixed=(tariff.flat or 0.0) if charged else 0.0,
        )

    @staticmethod
    def _periods(
        start: int,
        kwh: float,
        *,
        charge_h: float,
        parking_h: float,
        power: float,
        soc0: int,
        battery: int,
    ) -> tuple[Period, ...]:
        """Fast phase (60 % of the time, 75 % of the energy), taper, then parking."""
        if charge_h <= 0:
            return ()
        soc1 = min(100, soc0 + round(kwh * 0.75 / battery * 100))
        soc2 = min(100, soc0 + round(kwh / battery * 100))
        t1 = start + round(charge_h * 0.6 * 3600)
        out = [
            Period(
                start,
                round(kwh * 0.75, 3),
                round(charge_h * 0.6, 3),
                False,
                round(power * 1.1, 1),
                soc1,
            ),
            Period(
                t1,
                round(kwh * 0.25, 3),
                round(charge_h * 0.4, 3),
                False,
                round(power * 0.6, 1),
                soc2,
            ),
        ]
        if parking_h > 0:
            out.append(
                Period(start + round(charge_h * 3600), 0.0, round(parking_h, 3), True, 0.0, soc2)
            )
        return tuple(out)

    def owners(self) -> tuple[tuple[str, str], tuple[str, str]]:
        return CPO_PARTY, EMSP_PARTY
